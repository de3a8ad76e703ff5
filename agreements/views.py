from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from subscriptions.errors import InvalidInput

from . import services

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Room for the multipart envelope and the other fields around the file.
_FORM_OVERHEAD_BYTES = 64 * 1024


class UploadTooLarge(InvalidInput):
    code = "upload_too_large"
    status_code = 413

    def __init__(self):
        super().__init__("The file is larger than 10 MB: no agreement we issue is that large.", field="pdf")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def verify(request):
    """Public: is this PDF (or SHA-256) a signed agreement we issued? Answers only
    about the document given, never about any other customer's agreements.

    An oversized upload is refused from its Content-Length before Django reads the body
    (the CSRF check would otherwise read and spool all of it first); everything else
    goes through the CSRF-protected view below."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if request.method == "POST" and (
        not declared.isdigit() or int(declared) > MAX_UPLOAD_BYTES + _FORM_OVERHEAD_BYTES
    ):
        return _page(request, error=UploadTooLarge())
    return _verify(request)


@csrf_protect
def _verify(request):
    if request.method != "POST":
        return _page(request)
    upload = request.FILES.get("pdf")
    sha256 = request.POST.get("sha256", "").strip()
    try:
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            raise UploadTooLarge()
        result = services.agreement_verify(
            pdf_bytes=upload.read() if upload is not None else None, sha256=sha256 or None
        )
    except InvalidInput as error:
        return _page(request, error=error, sha256=sha256)
    return _page(request, result=result)


def _page(request, *, result=None, error=None, sha256=""):
    return render(
        request,
        "agreements/verify.html",
        {"result": result, "error": error, "sha256": sha256},
        status=error.status_code if error is not None else 200,
    )
