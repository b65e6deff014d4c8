"""Actions for the runner's own tests: no PagerDuty involved, only the runner's contract."""


class Connection:
    opened = []  # every connection the runner opened, in order

    def __init__(self, settings, log, pool=None, scopes=()):
        self.settings = settings
        self.closed = False
        Connection.opened.append(self)

    def close(self):
        self.closed = True

    def writes_sent(self):
        return []


class BadOutput:
    def __init__(self, step):
        self.step = step

    def run(self, params):
        return {"items": [{"id": 1}]}  # the spec says id is a string


class Streamed:
    def __init__(self, step):
        self.output_items = step.output_items

    def run(self, params):
        check = self.output_items("items")
        pages = [[{"id": "a"}, {"id": "b"}], [{"id": params.get("last", "c")}]]
        items = []
        for page in pages:
            check(page)
            items += page
        return {"items": items}
