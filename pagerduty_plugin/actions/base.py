"""What every action gets: the connection (its clients) and the step's logger."""


class Action:
    def __init__(self, connection, log):
        self.connection = connection
        self.log = log

    def run(self, params):
        raise NotImplementedError

    def output_items(self, field):
        """A callable that validates a batch of the list output `field` as it arrives (give it
        to RestClient.iterate as `check`), or None. The runner provides it; pass only objects
        that go into the output unchanged."""
        return None
