"""allauth forms that only ever reach a person through an address they verified.

allauth looks addresses up among every `EmailAddress` row and the user's login
address, preferring verified ones but falling back to unverified ones. An address
anyone can add to their own account unverified would then receive that account's
sign-in code or password reset, and entering the code would even verify it for them.
These forms keep allauth's flow and its answers (the same page whether or not the
address is known) but only pick the account that verified the address; for any other
address nothing is sent (ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS is off).
"""

from allauth.account.forms import RequestLoginCodeForm, ResetPasswordForm

from .services import verified_owner


class VerifiedLoginCodeForm(RequestLoginCodeForm):
    def clean_email(self) -> str:
        email = super().clean_email()
        if email:
            self._user = verified_owner(email)
        return email


class VerifiedResetPasswordForm(ResetPasswordForm):
    def clean_email(self) -> str:
        email = super().clean_email()
        owner = verified_owner(email)
        self.users = [owner] if owner else []
        return email
