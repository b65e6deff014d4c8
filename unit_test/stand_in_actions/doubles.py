"""Actions for the runner's own tests: no PagerDuty involved, only the runner's contract."""


class Connection:
    def __init__(self, settings, log, pool=None):
        self.settings = settings


class BadOutput:
    def __init__(self, connection, log):
        pass

    def run(self, params):
        return {"items": [{"id": 1}]}  # the spec says id is a string


class Streamed:
    def __init__(self, connection, log):
        self.output_items = lambda field: None

    def run(self, params):
        check = self.output_items("items")
        pages = [[{"id": "a"}, {"id": "b"}], [{"id": params.get("last", "c")}]]
        items = []
        for page in pages:
            check(page)
            items += page
        return {"items": items}
