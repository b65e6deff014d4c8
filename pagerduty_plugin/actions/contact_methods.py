"""A user's contact methods (email, phone, SMS…) and notification rules (which contact method,
how many minutes after an incident is assigned, for which urgency). PagerDuty answers both
lists in one piece, without pages: max_results trims that answer."""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import user_id_of
from pagerduty_plugin.actions.listing import cut, output
from pagerduty_plugin.client.rest import segment
from pagerduty_plugin.compat import without_suffix

PHONES = ("phone", "sms", "whatsapp")


def for_user(rest, params, item=None):
    """(/users/{id}, the item's id): the item's id is checked before the user, given by id or
    email, is looked up, so a bad id costs no request."""
    item_id = segment(params[item], item.replace("_", " ")) if item else None
    return f"/users/{user_id_of(rest, params['user_id'])}", item_id


def method_type(value):
    """email or email_contact_method -> email_contact_method."""
    return value if value.endswith("_contact_method") else f"{value}_contact_method"


def user_list(rest, params, collection, query=None):
    """{collection: [...], count, truncated}: one answer, trimmed to max_results."""
    base, _ = for_user(rest, params)
    items = rest.get(f"{base}/{collection}", query, key=collection, kind=list)
    return output(collection, *cut(items, params.get("max_results")))


class ListContactMethods(Action):
    def run(self, params):
        return user_list(self.connection.rest, params, "contact_methods")


class CreateContactMethod(Action):
    def run(self, params):
        kind = method_type(params["type"])
        method = {"type": kind, "address": params["address"], "label": params["label"]}
        if without_suffix(kind, "_contact_method") in PHONES:
            method["country_code"] = params["country_code"]
        if kind == "email_contact_method" and "send_short_email" in params:
            method["send_short_email"] = params["send_short_email"]
        rest = self.connection.rest
        base, _ = for_user(rest, params)
        answer = rest.post(f"{base}/contact_methods", {"contact_method": method}, key="contact_method")
        return {"contact_method": answer, "success": True}


class ListNotificationRules(Action):
    def run(self, params):
        query = {"urgency": params["urgency"],
                 "include": ["contact_methods"] if params.get("include_contact_methods") else None}
        return user_list(self.connection.rest, params, "notification_rules", query)


class CreateNotificationRule(Action):
    def run(self, params):
        rest = self.connection.rest
        base, method_id = for_user(rest, params, "contact_method_id")
        # The rule names its contact method by id and type: read the type from PagerDuty.
        method = rest.get(f"{base}/contact_methods/{method_id}", key="contact_method")
        rule = {"type": "assignment_notification_rule", "urgency": params["urgency"],
                "start_delay_in_minutes": params["start_delay_in_minutes"],
                "contact_method": {"id": method["id"],
                                   "type": without_suffix(method["type"], "_reference") + "_reference"}}
        answer = rest.post(f"{base}/notification_rules", {"notification_rule": rule}, key="notification_rule")
        return {"notification_rule": answer, "success": True}


class DeleteUserItem(Action):
    """DELETE /users/{user}/{collection}/{id}, the id read from the input `<item>_id`."""

    collection = item = None

    def run(self, params):
        rest = self.connection.rest
        base, item_id = for_user(rest, params, f"{self.item}_id")
        rest.delete(f"{base}/{self.collection}/{item_id}")
        return {"success": True}


class DeleteContactMethod(DeleteUserItem):
    collection, item = "contact_methods", "contact_method"


class DeleteNotificationRule(DeleteUserItem):
    collection, item = "notification_rules", "notification_rule"
