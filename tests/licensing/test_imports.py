import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from licensing import imports
from licensing.models import LicenceAssignment, OrgUser, UserImport
from subscriptions.errors import InvalidInput
from subscriptions.models import SeatChange, Subscription
from tests.backoffice.factories import seat_change_signed
from tests.factories import (
    LicenceAssignmentFactory,
    MembershipFactory,
    OrgUserFactory,
    PlanFactory,
    ProductFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

GOOD = """name,email,status,products
Ada Lovelace,ada@example.com,Active,documents;signature
Bea Locked,BEA@example.com,locked,documents
Boardroom 1,room1@example.com,Room,
"""


@pytest.fixture
def organization():
    documents = SubscriptionFactory(quantity=3)
    SubscriptionFactory(
        organization=documents.organization,
        plan=PlanFactory(product=ProductFactory(code="signature")),
        quantity=2,
    )
    return documents.organization


def apply(organization, text):
    user_import = UserImport.objects.create(organization=organization, filename="u.csv", content=text)
    return imports.user_import_apply(user_import=user_import)


def test_a_good_file_is_planned_line_by_line_then_applied_once(organization):
    plan = imports.plan_import(organization=organization, text=GOOD)

    assert plan.ok and plan.counts == {"create": 3, "update": 0, "unchanged": 0, "error": 0}
    assert [r.line for r in plan.rows] == [2, 3, 4]
    assert plan.rows[0].changes == ["new Active user", "gets a documents licence", "gets a signature licence"]
    assert not OrgUser.objects.exists()  # planning writes nothing

    assert apply(organization, GOOD) == {"create": 3, "update": 0, "unchanged": 0, "error": 0}
    users = dict(OrgUser.objects.values_list("email", "status"))
    assert users == {"ada@example.com": "active", "bea@example.com": "locked", "room1@example.com": "room"}
    assert LicenceAssignment.objects.count() == 3


def test_importing_the_same_file_again_changes_nothing(organization):
    apply(organization, GOOD)
    before = list(LicenceAssignment.objects.order_by("pk").values_list("pk", flat=True))

    assert apply(organization, GOOD) == {"create": 0, "update": 0, "unchanged": 3, "error": 0}
    assert list(LicenceAssignment.objects.order_by("pk").values_list("pk", flat=True)) == before


def test_a_file_with_errors_names_each_line_and_its_problem(organization):
    text = (
        "name,email,status,products\n"
        "Ada,ada@example.com,Active,documents\n"
        "Bad Email,not-an-email,Active,\n"
        "Odd Status,odd@example.com,Sleeping,\n"
        "Ada Again,ADA@example.com,Active,\n"
        "Unknown Product,up@example.com,Active,spreadsheets\n"
        "Room With Licence,r@example.com,Room,documents\n"
    )

    plan = imports.plan_import(organization=organization, text=text)

    errors = {row.line: row.errors for row in plan.rows_with_errors}
    assert not plan.ok
    assert errors[3] == ["“not-an-email” is not a valid email address."]
    assert errors[4][0].startswith("Unknown status “Sleeping”: use one of Active, Locked")
    assert errors[5] == ["The same email as line 2."]
    assert errors[6] == ["Unknown product “spreadsheets”: your products are documents, signature."]
    assert errors[7] == ["Room users cannot hold a licence: leave products empty."]
    with pytest.raises(InvalidInput, match="Line 3"):
        apply(organization, text)
    assert not OrgUser.objects.exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "The file is empty."),
        ("name,email\nÉmile,e@example.com\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_empty_files_and_wrong_encodings_are_refused_before_any_preview(organization, raw, message):
    with pytest.raises(InvalidInput, match=message):
        imports.user_import_create(organization=organization, filename="u.csv", raw=raw)


def test_a_header_without_users_or_without_the_columns_is_explained(organization):
    assert imports.plan_import(organization=organization, text="name,email,status\n").problems == [
        "The file has a header line but no users."
    ]
    assert (
        "missing: status"
        in imports.plan_import(organization=organization, text="name,email\nA,a@b.c\n").problems[0]
    )


def test_more_licences_than_seats_stops_the_whole_import(organization):
    rows = "".join(f"User {n},u{n}@example.com,Active,documents\n" for n in range(4))

    plan = imports.plan_import(organization=organization, text="name,email,status,products\n" + rows)

    assert plan.problems == [
        "Documents: this file gives out 4 licences but you have 3 seats. Remove 1 Documents licence "
        "from the file, or increase your seats to 4."
    ]
    with pytest.raises(InvalidInput):
        apply(organization, "name,email,status,products\n" + rows)
    assert not OrgUser.objects.exists()


def test_making_users_inactive_in_a_file_frees_seats_for_others_in_the_same_file(organization):
    documents = organization.subscriptions.get(plan__product__code="documents")
    holders = [LicenceAssignmentFactory(subscription=documents).org_user for _ in range(3)]
    text = "name,email,status,products\n" + "".join(f"{u.name},{u.email},Inactive,\n" for u in holders[:1])
    text += "Newcomer,new@example.com,Active,documents\n"

    assert apply(organization, text) == {"create": 1, "update": 1, "unchanged": 0, "error": 0}
    assert LicenceAssignment.objects.filter(subscription=documents).count() == 3


def test_ten_thousand_lines_import_in_one_go(organization):
    documents = organization.subscriptions.get(plan__product__code="documents")
    documents.quantity = 10_000
    documents.save()
    text = "name,email,status,products\n" + "".join(
        f"User {n},user{n}@example.com,{'Active' if n % 2 else 'Inactive'},{'documents' if n % 2 else ''}\n"
        for n in range(10_000)
    )

    assert apply(organization, text)["create"] == 10_000
    assert OrgUser.objects.filter(organization=organization).count() == 10_000
    assert LicenceAssignment.objects.filter(subscription=documents).count() == 5_000


def test_the_pages_preview_then_import_once_and_stay_within_the_organization(client):
    membership = MembershipFactory()
    SubscriptionFactory(organization=membership.organization, quantity=3)
    OrgUserFactory(organization=membership.organization, email="bea@example.com", name="Bea", status="active")
    client.force_login(membership.user)

    upload = SimpleUploadedFile(
        "team.csv", b"name,email,status,products\nBea B,bea@example.com,Locked,documents\n"
    )
    response = client.post("/licences/import/", {"file": upload}, follow=True)
    page = response.content.decode()
    assert "Update: name “Bea” → “Bea B”; status Active → Locked; gets a documents licence" in page
    assert OrgUser.objects.get().name == "Bea"

    user_import = UserImport.objects.get()
    done = client.post(f"/licences/import/{user_import.pk}/", follow=True).content.decode()
    again = client.post(f"/licences/import/{user_import.pk}/", follow=True).content.decode()
    assert "Import done: 0 created, 1 updated, 0 unchanged." in done
    assert "Import done: 0 created, 1 updated, 0 unchanged." in again
    assert OrgUser.objects.get().status == "locked"

    stranger = MembershipFactory()
    client.force_login(stranger.user)
    assert client.get(f"/licences/import/{user_import.pk}/").status_code == 404
    assert client.post(f"/licences/import/{user_import.pk}/").status_code == 404


def test_a_file_needing_more_seats_leads_to_the_increase_and_imports_once_it_is_there(client):
    membership = MembershipFactory()
    subscription = SubscriptionFactory(organization=membership.organization, quantity=3)
    client.force_login(membership.user)
    rows = "".join(f"User {n},u{n}@example.com,Active,documents\n" for n in range(5))
    upload = SimpleUploadedFile("team.csv", ("name,email,status,products\n" + rows).encode())

    preview = client.post("/licences/import/", {"file": upload}, follow=True)

    page = preview.content.decode()
    link = f"/subscriptions/{subscription.pk}/change/?new_total=5"
    assert f'href="{link}"' in page and "Increase Documents to 5 users" in page
    assert 'value="5"' in client.get(link).content.decode()  # the change page, filled in
    assert not OrgUser.objects.exists()

    Subscription.objects.filter(pk=subscription.pk).update(quantity=5)  # as once the increase is paid
    user_import = UserImport.objects.get()
    again = client.get(f"/licences/import/{user_import.pk}/").content.decode()
    assert "Increase Documents" not in again
    done = client.post(f"/licences/import/{user_import.pk}/", follow=True).content.decode()

    assert "Import done: 5 created, 0 updated, 0 unchanged." in done
    assert LicenceAssignment.objects.filter(subscription=subscription).count() == 5


def test_a_file_is_checked_against_the_total_a_scheduled_decrease_leaves(organization):
    documents = organization.subscriptions.get(plan__product__code="documents")
    Subscription.objects.filter(pk=documents.pk).update(quantity=5)
    documents.refresh_from_db()
    decrease = seat_change_signed(documents, 3)
    SeatChange.objects.filter(pk=decrease.pk).update(
        state="scheduled", effective_at=documents.current_period_end
    )
    rows = "".join(f"User {n},u{n}@example.com,Active,documents\n" for n in range(4))

    plan = imports.plan_import(organization=organization, text="name,email,status,products\n" + rows)

    end = documents.current_period_end
    assert plan.problems == [
        f"Documents: this file gives out 4 licences, but the decrease to 3 users on {end.day} {end:%B %Y} "
        "leaves 3. Remove 1 Documents licence from the file, or withdraw the decrease."
    ]
    assert plan.seat_increases == []


@pytest.mark.parametrize(
    "raw",
    [
        # A European Excel's "CSV UTF-8": semicolons (the comma is the decimal sign) and a BOM.
        "\ufeffname;email;status;products\r\nAda Lovelace;ada@example.com;Active;documents,signature\r\n"
        "Bea Locked;bea@example.com;Locked;documents\r\n".encode(),
        # Excel's explicit separator line.
        b"sep=;\nname;email;status;products\nAda Lovelace;ada@example.com;Active;documents,signature\n"
        b"Bea Locked;bea@example.com;Locked;documents\n",
        # Tab-separated, copied out of a spreadsheet.
        b"\xef\xbb\xbfname\temail\tstatus\tproducts\n"
        b"Ada Lovelace\tada@example.com\tActive\tdocuments;signature\n"
        b"Bea Locked\tbea@example.com\tLocked\tdocuments\n",
    ],
    ids=["semicolons-with-bom", "sep-line", "tabs"],
)
def test_semicolon_and_tab_separated_files_with_a_bom_import_like_commas(organization, raw):
    user_import = imports.user_import_create(organization=organization, filename="u.csv", raw=raw)

    plan = imports.plan_import(organization=organization, text=user_import.content)

    assert plan.ok, plan.problems + [e for r in plan.rows for e in r.errors]
    assert (plan.rows[0].email, plan.rows[0].products) == ("ada@example.com", ("documents", "signature"))
    first_line = 3 if raw.startswith(b"sep=") else 2
    assert [r.line for r in plan.rows] == [first_line, first_line + 1]
    assert imports.user_import_apply(user_import=user_import)["create"] == 2
    assert set(
        LicenceAssignment.objects.values_list("org_user__email", "subscription__plan__product__code")
    ) == {
        ("ada@example.com", "documents"),
        ("ada@example.com", "signature"),
        ("bea@example.com", "documents"),
    }


def test_a_header_split_by_another_character_says_which_separators_work(organization):
    problem = imports.plan_import(
        organization=organization, text="name|email|status\nA|a@b.c|Active\n"
    ).problems[0]

    assert "separated by commas, semicolons or tabs" in problem
    assert "missing: name, email, status" in problem


def test_a_file_making_an_inactive_user_active_without_products_says_they_get_no_licence(organization):
    OrgUserFactory(
        organization=organization, email="cal@example.com", name="Cal", status=OrgUser.Status.INACTIVE
    )

    plan = imports.plan_import(
        organization=organization, text="name,email,status\nCal,cal@example.com,Active\n"
    )

    assert plan.rows[0].changes == [
        "status Inactive → Active",
        "gets no licence: list the products in the file to give them",
    ]
