"""What every action gets: the connection (its clients) and the step's logger."""


class Action:
    def __init__(self, connection, log):
        self.connection = connection
        self.log = log

    def run(self, params):
        raise NotImplementedError
