// Conversations kept in this browser (localStorage), the js_on_load of #pqa-history (ui/app.py).
// The chat calls window.__pqaSaveChat(value) on every change; the list reopens, renames,
// exports (Markdown with sources) and deletes conversations. Reopening sends the saved
// messages to the server (trigger "submit"), which puts them back into the chat.
const KEY = "policyqa.conversations.v1";
const MAX_CONVERSATIONS = 50;
const MAX_MESSAGES = 200;
const box = element.querySelector(".pqa-history");
let current = null; // id of the conversation in the chat, null for a new one
// While the chat is being switched to another conversation (or emptied), changes still in
// flight belong to the one before: saves wait until the chat shows what was asked for.
let waitingFor = null;
let waitingTimer = null;
const show = (messages) => {
  waitingFor = JSON.stringify(messages);
  clearTimeout(waitingTimer);
  waitingTimer = setTimeout(() => (waitingFor = null), 3000);
  trigger("submit", { messages });
};
// The conversation open in this tab, so a reload reopens it (a new tab starts empty).
const OPEN_KEY = "policyqa.open-conversation";
const remember = (id) => {
  try {
    if (id) sessionStorage.setItem(OPEN_KEY, id);
    else sessionStorage.removeItem(OPEN_KEY);
  } catch (error) {
    /* storage disabled: nothing to reopen after a reload */
  }
};

const load = () => {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(list) ? list.filter((c) => c && c.id && Array.isArray(c.messages)) : [];
  } catch (error) {
    return [];
  }
};
const store = (list) => {
  let kept = list.slice(0, MAX_CONVERSATIONS);
  while (kept.length) {
    try {
      localStorage.setItem(KEY, JSON.stringify(kept));
      return;
    } catch (error) {
      kept = kept.slice(0, -1); // storage full: the oldest conversation goes first
    }
  }
  localStorage.removeItem(KEY);
};
const textOf = (content) => {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (part && (part.text ?? part.value)) || "").join("");
  return (content && (content.text ?? content.value)) || "";
};
const normalize = (value) =>
  (Array.isArray(value) ? value : [])
    .filter((m) => m && (m.role === "user" || m.role === "assistant"))
    .map((m) => ({ role: m.role, content: textOf(m.content) }))
    .filter((m) => m.content);
const typed = (text) => text.replace(/&lt;/g, "<"); // questions are stored as the chat shows them
const titleOf = (messages) => {
  const first = messages.find((m) => m.role === "user");
  const text = first ? typed(first.content).trim() : "对话";
  return text.length > 30 ? text.slice(0, 29) + "…" : text;
};
const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
const when = (time) => {
  const d = new Date(time);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getMonth() + 1}月${d.getDate()}日 ${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

const render = () => {
  const list = load();
  const items = list
    .map(
      (c) =>
        `<li class="pqa-h-item${c.id === current ? " pqa-h-current" : ""}" data-id="${escapeHtml(c.id)}">` +
        `<button type="button" class="pqa-h-open" data-do="open"${c.id === current ? ' aria-current="true"' : ""}>` +
        `<span class="pqa-h-title">${escapeHtml(c.title)}</span><span class="pqa-h-when">${when(c.updated)}</span></button>` +
        `<span class="pqa-h-actions">` +
        `<button type="button" data-do="rename" aria-label="重命名对话“${escapeHtml(c.title)}”">重命名</button>` +
        `<button type="button" data-do="export" aria-label="导出对话“${escapeHtml(c.title)}”为 Markdown">导出</button>` +
        `<button type="button" data-do="delete" aria-label="删除对话“${escapeHtml(c.title)}”">删除</button>` +
        `</span></li>`,
    )
    .join("");
  const open = box.querySelector("details") && box.querySelector("details").open;
  box.innerHTML =
    `<button type="button" class="pqa-h-new" data-do="new">＋ 新对话</button>` +
    `<details class="pqa-h-list"${open ? " open" : ""}><summary>对话记录（${list.length}）</summary>` +
    (list.length
      ? `<ul>${items}</ul>`
      : `<p class="pqa-h-empty">还没有保存的对话。提问后，对话会保存在这个浏览器里，刷新页面也不会丢失。</p>`) +
    `</details>`;
};

window.__pqaSaveChat = (value) => {
  const messages = normalize(value).slice(-MAX_MESSAGES);
  if (waitingFor !== null) {
    if (JSON.stringify(messages) === waitingFor) waitingFor = null;
    return;
  }
  if (!messages.length) {
    current = null; // the chat was cleared: the next question starts a new conversation
    remember(null);
    render();
    return;
  }
  const last = messages[messages.length - 1];
  if (last.role === "assistant" && /pqa-pending|pqa-cursor/.test(last.content)) return; // mid-answer
  const list = load();
  let conversation = current && list.find((c) => c.id === current);
  if (conversation && JSON.stringify(conversation.messages) === JSON.stringify(messages)) return;
  if (!conversation) {
    conversation = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8), title: titleOf(messages) };
    current = conversation.id;
    remember(current);
  }
  conversation.messages = messages;
  conversation.updated = Date.now();
  store([conversation, ...list.filter((c) => c.id !== conversation.id)]);
  render();
};

const markdownOf = (conversation) => {
  const parser = new DOMParser();
  const parts = [`# ${conversation.title}`, "", `导出时间：${new Date().toLocaleString("zh-CN")}`, ""];
  for (const message of conversation.messages) {
    if (message.role === "user") {
      parts.push(`## 问：${typed(message.content)}`, "");
    } else {
      const page = parser.parseFromString(message.content, "text/html");
      const plain = page.querySelector(".pqa-plain");
      parts.push((plain ? plain.textContent : page.body.textContent).trim(), "");
    }
  }
  return parts.join("\n");
};
const download = (name, text) => {
  const url = URL.createObjectURL(new Blob([text], { type: "text/markdown;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
};
const rename = (item, conversation) => {
  const form = document.createElement("form");
  form.className = "pqa-h-rename";
  form.innerHTML =
    `<label>新名称<input type="text" maxlength="60" value="${escapeHtml(conversation.title)}"></label>` +
    `<button type="submit">保存</button>`;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const title = form.querySelector("input").value.trim();
    if (title) {
      const list = load();
      const found = list.find((c) => c.id === conversation.id);
      if (found) found.title = title;
      store(list);
    }
    render();
  });
  item.appendChild(form);
  form.querySelector("input").select();
};

box.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-do]") : null;
  if (!button) return;
  const item = button.closest(".pqa-h-item");
  const list = load();
  const conversation = item && list.find((c) => c.id === item.dataset.id);
  switch (button.dataset.do) {
    case "new":
      current = null;
      show([]);
      render();
      break;
    case "open":
      if (!conversation) return;
      current = conversation.id;
      remember(current);
      show(conversation.messages);
      render();
      break;
    case "rename":
      if (conversation) rename(item, conversation);
      break;
    case "export":
      if (conversation) download(`对话-${conversation.title.replace(/[\\/:*?"<>|]/g, "_")}.md`, markdownOf(conversation));
      break;
    case "delete":
      if (!conversation || !confirm(`确定删除对话“${conversation.title}”吗？`)) return;
      store(list.filter((c) => c.id !== conversation.id));
      if (conversation.id === current) {
        current = null;
        show([]);
      }
      render();
      break;
  }
});
render();
try {
  const reopen = load().find((c) => c.id === sessionStorage.getItem(OPEN_KEY));
  if (reopen) {
    current = reopen.id;
    render();
    show(reopen.messages);
  }
} catch (error) {
  /* storage disabled */
}
