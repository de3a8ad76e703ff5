from .base import Push


class BuiltInConnector:
    """seatmgr itself is the licence server: the subscription's quantity, already
    committed, is what the licence pages and `licences/check` enforce. Nothing to send."""

    def __init__(self, connected_org):
        self.connected_org = connected_org

    def push(self, push: Push) -> None:
        return None
