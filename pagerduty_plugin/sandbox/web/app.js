// The sandbox's read-only page: fetch web/view.json every 2 seconds and draw it.
// Everything from the account is set with textContent: titles and notes are whatever a client sent.
"use strict";

const REFRESH_MS = 2000;
const opened = new Set();   // incidents whose details the reader opened, kept open across refreshes
let refreshes = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function when(text) {
  return el("time", {datetime: text}, text ? text.replace("T", " ").replace("Z", " UTC") : "");
}

function list(tag, items, draw, emptyText) {
  if (!items.length) return el("p", {class: "empty"}, emptyText);
  return el(tag, {}, ...items.map(item => el("li", {}, ...draw(item))));
}

function incident(inc) {
  const key = "incidents/" + inc.id;
  const details = el("details", {open: opened.has(inc.id) ? "" : null},
    el("summary", {}, `Timeline (${inc.timeline.length}), alerts (${inc.alerts.length}), notes (${inc.notes.length})`),
    el("h4", {}, "Timeline"),
    list("ol", inc.timeline, e => [when(e.at), " ", el("span", {class: "badge"}, e.type), e.summary, ` (by ${e.by})`],
         "No log entries."),
    el("h4", {}, "Alerts"),
    list("ul", inc.alerts, a => [when(a.created_at), " ", el("span", {class: "badge"}, a.status),
                                  el("span", {class: "badge"}, a.severity), a.summary], "No alerts."),
    el("h4", {}, "Notes"),
    list("ul", inc.notes, n => [when(n.at), " ", n.by ? `${n.by}: ` : "", n.content], "No notes."));
  details.addEventListener("toggle", () => details.open ? opened.add(inc.id) : opened.delete(inc.id));
  return el("article", {class: `incident status-${inc.status}`, id: key, "data-status": inc.status,
                        "data-incident-id": inc.id},
    el("h3", {}, `#${inc.number} ${inc.title}`),
    el("p", {class: "meta"},
      el("span", {class: "badge status"}, inc.status),
      el("span", {class: "badge"}, `${inc.urgency} urgency`),
      `${inc.service} · opened `, when(inc.created_at),
      inc.assignees.length ? ` · assigned to ${inc.assignees.join(", ")}` : " · unassigned"),
    details);
}

function rows(tbody, items, cells, emptyText, width) {
  tbody.replaceChildren(...(items.length ? items.map(item => el("tr", {}, ...cells(item).map(c => el("td", {}, c))))
                                         : [el("tr", {}, el("td", {colspan: width, class: "empty"}, emptyText))]));
}

function draw(view) {
  const c = view.counts;
  document.getElementById("summary").textContent =
    `${c.triggered} triggered, ${c.acknowledged} acknowledged, ${c.resolved} resolved · seed ${view.seed} · ` +
    `REST API at ${view.api_url}`;
  const incidents = document.getElementById("incidents");
  incidents.replaceChildren(...(view.incidents.length ? view.incidents.map(incident)
                                                      : [el("p", {class: "empty"}, "No incidents.")]));
  if (view.incident_total > view.incidents.length) {
    incidents.append(el("p", {class: "empty"}, `… and ${view.incident_total - view.incidents.length} older`));
  }
  rows(document.querySelector("#change-events tbody"), view.change_events,
       ch => [when(ch.timestamp), ch.service, ch.summary, ch.source], "No change events.", 4);
  rows(document.querySelector("#webhooks tbody"), view.webhooks,
       w => [when(w.created_at), w.event_type, w.incident_id || "", w.url, w.status, w.attempts,
             w.last_status_code === null || w.last_status_code === undefined ? "" : w.last_status_code],
       "No webhooks.", 7);
  if (location.hash && !document.body.dataset.scrolled) {   // an html_url names an incident: show it
    const target = document.getElementById(location.hash.slice(1));
    if (target) { target.scrollIntoView(); target.querySelector("details").open = true; }
    document.body.dataset.scrolled = "yes";
  }
}

async function refresh() {
  const stamp = document.getElementById("refreshed");
  try {
    const answer = await fetch("web/view.json", {cache: "no-store"});
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    draw(await answer.json());
    refreshes += 1;
    stamp.dataset.refreshes = String(refreshes);
    stamp.textContent = `Read-only view; refreshed ${new Date().toLocaleTimeString()} (every 2 seconds).`;
  } catch (error) {
    stamp.textContent = `The sandbox did not answer (${error.message}); trying again.`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();
