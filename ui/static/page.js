// The page's behaviours, run once with the viewer's js_on_load (ui/app.py VIEWER_JS; `root`,
// `byId` and `server` come from there): copy an answer as plain text, 👍 / 👎 with an optional
// reason, scroll a new answer to its start, and Gradio's English labels in Chinese.
if (!window.__pqaPage) {
  window.__pqaPage = true;
  document.documentElement.lang = "zh-CN";

  // ── copy and feedback ──────────────────────────────────────────────────────
  const plainOf = (msg) => {
    const plain = msg && msg.querySelector(".pqa-plain");
    return plain ? plain.textContent : msg ? msg.innerText : "";
  };
  const askedOf = (msg) => {
    const asked = msg && msg.querySelector(".pqa-asked");
    return asked ? asked.textContent : "";
  };
  // The clipboard API needs a secure context (https or localhost); an intranet http:// page
  // falls back to a selected textarea and the copy command.
  const copyText = async (text) => {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (error) {
      /* fall through */
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    area.remove();
    return copied;
  };
  const status = (msg, text) => {
    let line = msg.querySelector(".pqa-act-status");
    if (!line) {
      line = document.createElement("span");
      line.className = "pqa-act-status";
      line.setAttribute("role", "status");
      msg.querySelector(".pqa-actions").appendChild(line);
    }
    line.textContent = text;
  };
  const reasonForm = (msg, turn, id) => {
    if (msg.querySelector(".pqa-reason")) return;
    const form = document.createElement("form");
    form.className = "pqa-reason";
    form.innerHTML =
      '<label>原因（可选）<input type="text" maxlength="500" placeholder="例如：引用的文件不对、数字有误"></label>' +
      '<button type="submit">提交原因</button>';
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reason = form.querySelector("input").value.trim();
      if (!reason) return;
      const result = await server.save_feedback({ turn, id, reason });
      status(msg, result.message);
      form.remove();
    });
    msg.querySelector(".pqa-actions").after(form);
    form.querySelector("input").focus();
  };
  root.addEventListener(
    "click",
    async (event) => {
      const link = event.target instanceof Element ? event.target.closest("a.pqa-act") : null;
      if (!link) return;
      event.preventDefault();
      event.stopPropagation();
      const query = new URLSearchParams(link.getAttribute("href").split("?")[1] || "");
      const msg = link.closest(".pqa-msg");
      const turn = query.get("turn");
      const action = query.get("do");
      if (action === "copy") {
        status(msg, (await copyText(plainOf(msg))) ? "已复制（纯文本，含来源）" : "复制失败，请手动选择文字复制");
        return;
      }
      const result = await server.save_feedback({ turn, rating: action, question: askedOf(msg), answer: plainOf(msg) });
      status(msg, result.message);
      if (result.id != null) {
        msg.querySelectorAll("a.pqa-up, a.pqa-down").forEach((a) => a.setAttribute("aria-pressed", String(a === link)));
        reasonForm(msg, turn, result.id);
      }
    },
    true,
  );

  // ── a new answer scrolls to its start; a new question to the bottom ────────────
  const scroller = (node, stop) => {
    for (let el = node.parentElement; el && el !== stop.parentElement; el = el.parentElement) {
      const overflow = getComputedStyle(el).overflowY;
      if ((overflow === "auto" || overflow === "scroll") && el.scrollHeight > el.clientHeight) return el;
    }
    return null;
  };
  const seenAnswers = new Set();
  let seenPending = 0;
  const follow = () => {
    const chat = byId("pqa-chat");
    if (!chat) return;
    const messages = chat.querySelectorAll(".pqa-msg");
    const last = messages[messages.length - 1];
    if (!last) return;
    const actions = last.querySelector("a.pqa-act");
    if (actions) {
      const turn = new URLSearchParams(actions.getAttribute("href").split("?")[1] || "").get("turn");
      if (seenAnswers.has(turn)) return;
      seenAnswers.add(turn);
      const box = scroller(last, chat);
      if (box) box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top - 12;
      if (last.getBoundingClientRect().top < 0) last.scrollIntoView({ block: "start" });
    } else if (last.classList.contains("pqa-pending") && messages.length !== seenPending) {
      seenPending = messages.length;
      const box = scroller(last, chat);
      if (box) box.scrollTop = box.scrollHeight;
    }
  };
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      follow();
    });
  }).observe(document.body, { childList: true, subtree: true });

  // ── Gradio's English words in Chinese (its zh-CN translation lacks some; other locales lack all) ──
  const LABELS = {
    Clear: "清空对话",
    "Copy message": "复制",
    "Copied message": "已复制",
    Retry: "重新回答",
    Undo: "撤销",
    Edit: "编辑",
    Like: "赞",
    Dislike: "踩",
    Chatbot: "对话",
    Textbox: "问题",
    Submit: "发送",
    Stop: "停止",
    Close: "关闭",
    Loading: "加载中",
    Remove: "移除",
    Download: "下载",
    Upload: "上传",
    Share: "分享",
    Settings: "设置",
    Progress: "进度",
    "Scroll to bottom": "滚动到底部",
    "Scroll down": "滚动到底部",
    Dropdown: "下拉菜单",
    Error: "出错了",
  };
  const TEXTS = [
    [/^processing \|$/, "处理中 |"],
    [/^queue: (\d+)\/(\d*) \|$/, "排队：$1/$2 |"],
    [/^([\d.]+)(\/[\d.]+)?s$/, "$1$2 秒"],
  ];
  // Gradio labels each chat message with its raw content: the answer's HTML, read aloud.
  const LABEL_PATTERNS = [
    [/^bot's message: [\s\S]*$/, "回答"],
    [/^user's message: ([\s\S]*)$/, "问题：$1"],
    [/^chatbot conversation$/, "对话"],
    [/^More tabs$/, "更多标签页"],
    [/^undo$/i, "撤销"],
    [/^retry$/i, "重新回答"],
  ];
  const chinese = (value) => {
    if (LABELS[value]) return LABELS[value];
    for (const [pattern, replacement] of LABEL_PATTERNS) if (pattern.test(value)) return value.replace(pattern, replacement);
    return null;
  };
  const ATTRIBUTES = ["aria-label", "title", "placeholder"];
  const translate = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const tracker = node.parentElement && node.parentElement.closest('[data-testid="status-tracker"]');
      if (!tracker) return;
      const text = node.textContent.trim();
      for (const [pattern, chinese] of TEXTS) {
        if (pattern.test(text)) {
          node.textContent = text.replace(pattern, chinese);
          return;
        }
      }
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    const elements = [node, ...node.querySelectorAll("[aria-label], [title], [placeholder]")];
    for (const el of elements) {
      for (const name of ATTRIBUTES) {
        const value = el.getAttribute && el.getAttribute(name);
        const replaced = value && chinese(value);
        if (replaced && replaced !== value) el.setAttribute(name, replaced);
      }
    }
    node.querySelectorAll('[data-testid="status-tracker"]').forEach((tracker) => {
      const walker = document.createTreeWalker(tracker, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) translate(walker.currentNode);
    });
  };
  translate(document.body);
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "attributes") translate(record.target);
      else if (record.type === "characterData") translate(record.target);
      else record.addedNodes.forEach(translate);
    }
  }).observe(document.body, {
    childList: true,
    subtree: true,
    characterData: true,
    attributes: true,
    attributeFilter: ATTRIBUTES,
  });
}
