/* The inbox without reloads: polls the inbox's JSON every few seconds (no websockets), adds new messages to an open
   thread and refreshes the list's unread counts; fills the reply box from a canned reply; shows message ages. */
(function () {
  "use strict";
  function ago(seconds) {
    if (seconds === null || seconds === "" || isNaN(seconds)) { return ""; }
    seconds = Number(seconds);
    if (seconds < 60) { return window.rtWord("just now"); }
    if (seconds < 3600) { return window.rtWord("%(num)s min ago", {num: Math.floor(seconds / 60)}); }
    if (seconds < 86400) { return window.rtWord("%(num)s h ago", {num: Math.floor(seconds / 3600)}); }
    return window.rtWord("%(num)s d ago", {num: Math.floor(seconds / 86400)});
  }
  function poll(element, handle) {
    var every = (Number(element.getAttribute("data-poll-seconds")) || 5) * 1000;
    function tick() {
      var url = element.getAttribute("data-poll-url");
      var after = element.getAttribute("data-after");
      if (after !== null) { url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after); }
      fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch", "Accept": "application/json"}})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) { if (body) { handle(body); } })
        .catch(function () { /* offline for a moment: the next tick tries again */ })
        .then(function () { window.setTimeout(tick, every); });
    }
    window.setTimeout(tick, every);
  }
  function text(tag, className, value) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    node.textContent = value;  // never innerHTML: the shopper wrote it
    return node;
  }

  var thread = document.getElementById("thread-messages");
  if (thread) {
    poll(thread, function (body) {
      body.messages.forEach(function (msg) {
        if (thread.querySelector('[data-id="' + msg.id + '"]')) { return; }
        var item = text("li", "list-group-item thread-message py-2" +
                        (msg.direction === "outbound" ? " text-right bg-light" : ""), "");
        item.setAttribute("data-id", msg.id);
        item.setAttribute("data-direction", msg.direction);
        item.appendChild(text("div", "small text-muted", (msg.author || window.rtWord("Shopper")) + " · " + msg.channel + " · " + msg.at_local));
        item.appendChild(text("div", "rt-pre thread-text", msg.text));
        thread.appendChild(item);
        thread.setAttribute("data-after", msg.id);
      });
      var status = document.getElementById("thread-status");
      if (status && body.conversation) { status.textContent = body.conversation.status; }
    });
  }

  var list = document.getElementById("inbox-list");
  function showAges() {
    document.querySelectorAll(".inbox-age").forEach(function (cell) { cell.textContent = ago(cell.getAttribute("data-age")); });
  }
  if (list) {
    showAges();
    poll(list, function (body) {
      var tbody = list.querySelector("tbody");
      tbody.textContent = "";
      body.conversations.forEach(function (row) {
        var tr = document.createElement("tr");
        tr.className = "inbox-row";
        tr.setAttribute("data-id", row.id);
        var name = document.createElement("td");
        var link = text("a", "", row.name);
        link.href = row.url;
        name.appendChild(link);
        tr.appendChild(name);
        tr.appendChild(text("td", "", row.channel));
        var unread = text("td", "inbox-unread", "");
        if (row.unread) { unread.appendChild(text("span", "badge badge-primary", String(row.unread))); }
        tr.appendChild(unread);
        var age = text("td", "inbox-age", "");
        age.setAttribute("data-age", row.age_seconds === null ? "" : row.age_seconds);
        tr.appendChild(age);
        tr.appendChild(text("td", "", row.assigned_user_id ? "#" + row.assigned_user_id : ""));
        tbody.appendChild(tr);
      });
      showAges();
    });
  }

  var canned = document.getElementById("canned-select");
  if (canned) {
    canned.addEventListener("change", function () {
      var option = canned.options[canned.selectedIndex];
      if (option.value) { document.getElementById("reply-text").value = option.getAttribute("data-text"); }
    });
  }
  var form = document.getElementById("reply-form");
  if (form) {  // one click, one send (the server's one-time token holds it anyway)
    form.addEventListener("submit", function () { document.getElementById("reply-button").disabled = true; });
  }
})();
