from subscriptions.errors import Conflict, DomainError


class AgreementAlreadySigned(Conflict):
    code = "agreement_signed"

    def __init__(self, number: str):
        super().__init__(f"Agreement {number} is already signed: it cannot be signed again.")


class AgreementNotIssuable(Conflict):
    code = "agreement_not_issuable"


class SignerNotAllowed(DomainError):
    """Whoever is asking may not sign this agreement (another person is named to sign
    it, or their link no longer works)."""

    code = "signer_not_allowed"
    status_code = 403
