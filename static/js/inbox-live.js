// Live inbox: polls small JSON endpoints and updates the page without a reload.
//  - [data-inbox-list]: the conversation list (rebuilt from /inbox/updates/)
//  - [data-thread]: one conversation (new messages appended, status badges refreshed)
//  - [data-inbox-unread]: unread badges (navbar, page header)
// Everything from the server is plain text and goes in with textContent — never innerHTML.
(function () {
  "use strict";

  var POLL_MS = 3000;
  // Every poll is marked as background traffic: the idle-timeout middleware does not count it
  // as a person's activity, so an unattended open inbox still signs out (HIPAA automatic logoff).
  var POLL_HEADERS = { Accept: "application/json", "X-CareRelay-Background": "1" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function poll(url, handle) {
    var busy = false;
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url(), { credentials: "same-origin", headers: POLL_HEADERS })
        .then(function (response) {
          if (response.status === 401 || response.status === 403) throw new Error("signed out");
          return response.ok ? response.json() : null;
        })
        .then(function (data) { if (data) handle(data); })
        .catch(function () { /* the next tick retries; a signed-out session is handled by accounts-idle.js */ })
        .finally(function () { busy = false; });
    }
    window.setInterval(tick, POLL_MS);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) tick(); });
  }

  function setUnread(total) {
    document.querySelectorAll("[data-inbox-unread]").forEach(function (badge) {
      badge.textContent = String(total);
      badge.classList.toggle("d-none", !total);
    });
    document.querySelectorAll("[data-unread-caption]").forEach(function (caption) {
      caption.classList.toggle("d-none", !total);
    });
  }

  // ---- the conversation list ----------------------------------------------------------
  function conversationRow(row, threadUrl) {
    var link = el("a", "list-group-item list-group-item-action conversation-row" + (row.unread ? " is-unread" : ""));
    link.href = threadUrl.replace("/0/", "/" + Number(row.id) + "/");
    link.dataset.conversation = String(row.id);
    link.appendChild(el("div", "conversation-avatar", row.initial || "#"))
      .setAttribute("aria-hidden", "true");
    var main = link.appendChild(el("div", "conversation-main"));
    var top = main.appendChild(el("div", "d-flex justify-content-between gap-2"));
    top.appendChild(el("span", "conversation-name", row.contact)).dataset.field = "contact";
    top.appendChild(el("span", "conversation-time small text-body-secondary", row.last_message)).dataset.field = "last_message";
    var bottom = main.appendChild(el("div", "d-flex justify-content-between gap-2 small"));
    var where = bottom.appendChild(el("span", "text-body-secondary"));
    where.appendChild(el("span", "", row.channel)).dataset.field = "channel";
    where.appendChild(document.createTextNode(" · "));
    where.appendChild(el("span", "", row.channel_kind)).dataset.field = "channel_kind";
    if (row.status === "closed") where.appendChild(document.createTextNode(" · Closed"));
    var right = bottom.appendChild(el("span"));
    right.appendChild(el("span", "assignee-chip" + (row.assignee ? "" : " is-empty"), row.assignee || "Unassigned"))
      .dataset.field = "assignee";
    right.appendChild(document.createTextNode(" "));
    var unread = right.appendChild(el("span", "badge rounded-pill text-bg-danger" + (row.unread ? "" : " d-none"), row.unread));
    unread.dataset.field = "unread";
    unread.dataset.testid = "row-unread";
    return link;
  }

  function startList(list) {
    var empty = list.querySelector("[data-empty]");
    poll(function () { return list.dataset.pollUrl; }, function (data) {
      setUnread(data.unread_total);
      var rows = data.conversations || [];
      if (!rows.length && empty) { list.replaceChildren(empty); return; }
      var fragment = document.createDocumentFragment();
      rows.forEach(function (row) { fragment.appendChild(conversationRow(row, list.dataset.threadUrl)); });
      list.replaceChildren(fragment);
    });
  }

  // ---- one thread ---------------------------------------------------------------------
  function messageRow(row) {
    var box = el("div", "msg msg-" + (row.direction === "outbound" ? "outbound" : "inbound") + " msg-new");
    box.dataset.message = String(row.id);
    box.dataset.testid = "message";
    var bubble = box.appendChild(el("div", "msg-bubble"));
    bubble.appendChild(el("div", "msg-body text-pre", row.body)).dataset.field = "body";
    var meta = box.appendChild(el("div", "msg-meta"));
    if (row.sender) {
      meta.appendChild(el("span", "msg-sender", row.sender));
      meta.appendChild(document.createTextNode(" · "));
    }
    var time = meta.appendChild(el("time", "", row.time));
    time.setAttribute("datetime", row.timestamp || "");
    if (row.direction === "outbound") {
      meta.appendChild(document.createTextNode(" "));
      var badge = meta.appendChild(el("span", "badge status-badge " + row.status_class, row.status_label));
      badge.dataset.status = row.status;
      badge.dataset.testid = "message-status";
    }
    var error = box.appendChild(el("div", "msg-error" + (row.error ? "" : " d-none"), row.error));
    error.dataset.field = "error";
    error.dataset.testid = "message-error";
    return box;
  }

  function applyStatus(root, update) {
    var box = root.querySelector('[data-message="' + Number(update.id) + '"]');
    if (!box) return;
    var badge = box.querySelector("[data-status]");
    if (badge && badge.dataset.status !== update.status) {
      badge.className = "badge status-badge " + update.status_class;
      badge.textContent = update.status_label;
      badge.dataset.status = update.status;
    }
    var error = box.querySelector('[data-field="error"]');
    if (error) {
      error.textContent = update.error || "";
      error.classList.toggle("d-none", !update.error);
    }
  }

  function nearBottom(scroller) {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function scrollToEnd(scroller) { scroller.scrollTop = scroller.scrollHeight; }

  function startThread(thread) {
    scrollToEnd(thread);
    poll(function () { return thread.dataset.pollUrl + "?after=" + encodeURIComponent(thread.dataset.lastId || "0"); },
      function (data) {
        var stick = nearBottom(thread);
        (data.messages || []).forEach(function (row) {
          if (thread.querySelector('[data-message="' + Number(row.id) + '"]')) return;
          var empty = thread.querySelector("[data-empty]");
          if (empty) empty.remove();
          thread.appendChild(messageRow(row));
          thread.dataset.lastId = String(Math.max(Number(thread.dataset.lastId) || 0, Number(row.id)));
        });
        (data.statuses || []).forEach(function (update) { applyStatus(thread, update); });
        var state = data.conversation || {};
        var optedOut = document.querySelector("[data-opted-out]");
        if (optedOut && "opted_out" in state) optedOut.classList.toggle("d-none", !state.opted_out);
        if (stick && (data.messages || []).length) scrollToEnd(thread);
      });
  }

  window.CareRelayLive = { poll: poll, el: el };
  document.addEventListener("DOMContentLoaded", function () {
    var list = document.querySelector("[data-inbox-list]");
    if (list) startList(list);
    var thread = document.querySelector("[data-thread]");
    if (thread) startThread(thread);
  });
})();
