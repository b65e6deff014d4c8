"""What every action gets from the runner's step context: the connection (its clients), the
step's logger, and output_items(field): a callable that validates a batch of the list output
`field` as it arrives (give it to RestClient.iterate as `check`), or None; pass it only objects
that go into the output unchanged."""


class Action:
    def __init__(self, step):
        self.connection = step.connection
        self.log = step.log
        self.output_items = step.output_items

    def run(self, params):
        raise NotImplementedError
