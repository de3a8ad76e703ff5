from subscriptions.errors import Conflict


class AgreementAlreadySigned(Conflict):
    code = "agreement_signed"

    def __init__(self, number: str):
        super().__init__(f"Agreement {number} is already signed: it cannot be signed again.")


class AgreementNotIssuable(Conflict):
    code = "agreement_not_issuable"
