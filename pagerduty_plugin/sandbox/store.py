"""All sandbox state behind one lock, deterministic ids, and reference objects."""
import hashlib
import threading
import uuid

from .errors import not_found

ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# kind -> (collection attribute, API path, field used as summary)
KINDS = {
    "user": ("users", "users", "name"),
    "team": ("teams", "teams", "name"),
    "service": ("services", "services", "name"),
    "escalation_policy": ("escalation_policies", "escalation_policies", "name"),
    "schedule": ("schedules", "schedules", "name"),
    "priority": ("priorities", "priorities", "name"),
    "incident": ("incidents", "incidents", None),
    "log_entry": ("log_entries", "log_entries", "summary"),
    "alert": ("alerts", None, "summary"),
    "integration": ("integrations", None, "name"),
    "extension": ("extensions", "extensions", "name"),
    "extension_schema": ("extension_schemas", "extension_schemas", "label"),
    "maintenance_window": ("maintenance_windows", "maintenance_windows", "description"),
    "contact_method": ("contact_methods", None, "label"),
    "notification_rule": ("notification_rules", None, None),
    "vendor": ("vendors", "vendors", "name"),
    "webhook_subscription": ("webhook_subscriptions", "webhook_subscriptions", "description"),
    "change_event": ("change_events", "change_events", "summary"),
    # 2025–2026 families
    "incident_workflow": ("incident_workflows", "incident_workflows", "name"),
    "automation_action": ("automation_actions", "automation_actions/actions", "name"),
    "invocation": ("invocations", "automation_actions/invocations", None),
    "incident_type": ("incident_types", "incidents/types", "display_name"),
    "status_page": ("status_pages", "status_pages", "name"),
}


class Store:
    """The account: plain dict records keyed by id. Hold `lock` while reading or changing them."""

    def __init__(self):
        self.lock = threading.RLock()
        self._base_url = "http://127.0.0.1"
        self.deliverer = None      # the webhook delivery worker (delivery.Deliverer), set by the Sandbox
        self.deliver_webhooks = True   # off while the seed helpers insert records straight into the store
        self.clear()

    @property
    def base_url(self):
        return self._base_url

    @base_url.setter
    def base_url(self, value):
        self._base_url = value
        self._urls = {}

    def clear(self):
        for attr, _path, _field in KINDS.values():
            setattr(self, attr, {})
        self.members = {}          # team id -> {user id: team role}, in join order
        self.routing_keys = {}     # integration key -> integration id
        self.open_alerts = {}      # (service id, dedup key) -> alert id
        self.incident_numbers = {}  # incident number (as text) -> incident id
        self.api_keys = {}         # key -> {"read_only": bool, "user_id": id or None}
        self.abilities = {}        # ability name -> enabled
        self.seed_ids = {}
        self.snoozed = set()       # incident ids with a pending snooze expiry
        self.workflow_instances = []  # incident workflow instances started, oldest first
        self._numbers = {}         # sequence name -> next number (incident numbers...)
        self._id_counter = 0
        self._issued = set()
        self._urls = {}            # (kind, id) -> (self, html_url): references are rendered a lot
        # automation invocations move one state every `step` seconds; `stall`: no runner ever picks them up
        self.automation = {"step": 1.0, "stall": False}

    # ids -------------------------------------------------------------------------------------
    def new_id(self):
        """'P' + 6 uppercase alphanumerics, deterministic for a given history of calls."""
        while True:
            self._id_counter += 1
            digest = hashlib.blake2b(self._id_counter.to_bytes(8, "big"), digest_size=8).digest()
            value = int.from_bytes(digest, "big")
            chars = []
            for _ in range(6):
                value, rem = divmod(value, 36)
                chars.append(ID_ALPHABET[rem])
            new = "P" + "".join(chars)
            if new not in self._issued:
                self._issued.add(new)
                return new

    def next_number(self, sequence):
        """1, 2, 3... per sequence (e.g. "incident"); never reused, even after a delete."""
        number = self._numbers.get(sequence, 1)
        self._numbers[sequence] = number + 1
        return number

    def hex_key(self, label):
        """32 lowercase hex characters, deterministic (routing keys, incident keys)."""
        self._id_counter += 1
        return hashlib.blake2b(f"{label}:{self._id_counter}".encode(), digest_size=16).hexdigest()

    def new_ulid(self):
        """26 characters, '01' then 24 uppercase alphanumerics (automation action and invocation ids)."""
        return "01" + self.hex_key("ulid")[:24].upper()

    @staticmethod
    def unique_key():
        """32 lowercase hex characters never issued before, not even before a reset (generated dedup and
        incident keys: a client that kept one must never find it on a new alert)."""
        return uuid.uuid4().hex

    # lookups ----------------------------------------------------------------------------------
    def get(self, kind, id_, what=None):
        """The record a path names, or 404. Incidents may be named by number too, as PagerDuty allows."""
        record = getattr(self, KINDS[kind][0]).get(id_)
        if record is None and kind == "incident" and id_ in self.incident_numbers:
            record = self.incidents.get(self.incident_numbers[id_])
        if record is None:
            raise not_found(f"{what or kind.replace('_', ' ')} {id_}")
        return record

    def find(self, kind, id_):
        return getattr(self, KINDS[kind][0]).get(id_)

    def child(self, kind, id_, parent_field, parent_id):
        """A record under a parent (a user's contact method, an incident's alert): 404 when it does not
        exist or belongs to another parent."""
        record = self.find(kind, id_)
        if record is None or record[parent_field] != parent_id:
            raise not_found(kind.replace("_", " ") + " " + id_)
        return record

    def user_by_email(self, email):
        if not email:
            return None
        email = email.strip().lower()
        for user in self.users.values():
            if user["email"].lower() == email:
                return user
        return None

    # rendering helpers ------------------------------------------------------------------------
    def self_url(self, kind, id_):
        path = KINDS[kind][1]
        if kind == "integration":
            record = self.integrations.get(id_)
            return f"{self._base_url}/services/{record['service_id']}/integrations/{id_}" if record else None
        if kind == "alert":
            record = self.alerts.get(id_)
            return f"{self._base_url}/incidents/{record['incident_id']}/alerts/{id_}" if record else None
        if kind in ("contact_method", "notification_rule"):
            record = getattr(self, KINDS[kind][0]).get(id_)
            if not record:
                return None
            return f"{self._base_url}/users/{record['user_id']}/{kind}s/{id_}"
        return f"{self._base_url}/{path}/{id_}"

    def html_url(self, kind, id_):
        """Where a person looks at the object: its place on the sandbox's web page (GET /)."""
        path = KINDS[kind][1] or kind + "s"
        return f"{self._base_url}/#{path}/{id_}"

    def summary(self, kind, id_):
        record = getattr(self, KINDS[kind][0]).get(id_)
        if record is None:
            return None
        if kind == "incident":
            return f"[#{record['number']}] {record['title']}"
        if kind == "notification_rule":
            return f"{record['start_delay_in_minutes']} minutes: channel {record['contact_method_id']}"
        field = KINDS[kind][2]
        return record.get(field) or record.get("name")

    def ref(self, kind, id_, type_=None):
        """A reference object {id, type, summary, self, html_url}; type defaults to '<kind>_reference'."""
        urls = self._urls.get((kind, id_))
        if urls is None:
            urls = (self.self_url(kind, id_), self.html_url(kind, id_))
            if KINDS[kind][1] is not None:   # URLs under a parent (alerts, integrations...) are not cached
                self._urls[(kind, id_)] = urls
        return {
            "id": id_,
            "type": type_ or kind + "_reference",
            "summary": self.summary(kind, id_),
            "self": urls[0],
            "html_url": urls[1],
        }

    def entity(self, kind, id_, type_=None):
        """The common head of a full object: id, type, summary, self, html_url."""
        return self.ref(kind, id_, type_ or kind)
