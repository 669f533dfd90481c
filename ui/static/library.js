// The 知识库 list's js_on_load (#pqa-documents, ui/app.py): search, per-row actions and
// drag-and-drop upload. Rows carry their document in data-doc (this component's HTML is
// ours, not the chat's sanitized HTML). Changes go to the server as events: "click" previews,
// "submit" deletes or saves a title and date; the server checks who may change anything.
let query = "";
// The preview's 上一页 / 下一页 links (ui/static/viewer.js) ask for another page this way.
window.__pqaPreview = (detail) => trigger("click", detail);
const rows = () => [...element.querySelectorAll("li.pqa-kb-row:not(.pqa-kb-head)")];
const filter = () => {
  const words = query.trim().toLowerCase();
  let shown = 0;
  for (const row of rows()) {
    const hit = !words || row.textContent.toLowerCase().includes(words);
    row.hidden = !hit;
    shown += hit ? 1 : 0;
  }
  const count = element.querySelector(".pqa-kb-count");
  if (count) count.textContent = words ? `显示 ${shown} / ${rows().length} 份文件` : `共 ${rows().length} 份文件`;
};
element.addEventListener("input", (event) => {
  if (event.target.matches(".pqa-kb-search input")) {
    query = event.target.value;
    filter();
  }
});
watch("value", () => {
  const box = element.querySelector(".pqa-kb-search input");
  if (box) box.value = query;
  filter();
});

const editor = (row) => {
  if (row.querySelector("form")) return;
  const form = document.createElement("form");
  form.className = "pqa-kb-edit";
  const esc = (text) => text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  form.innerHTML =
    `<label>标题<input name="title" type="text" maxlength="200" required value="${esc(row.dataset.title)}"></label>` +
    `<label>日期<input name="date" type="text" placeholder="例如 2021-02-25，留空则按文件内容" value="${esc(row.dataset.date)}"></label>` +
    `<button type="submit" class="pqa-kb-act">保存</button><button type="button" class="pqa-kb-act" data-do="cancel">取消</button>`;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    trigger("submit", { do: "save", doc: row.dataset.doc, title: form.title.value, date: form.date.value });
  });
  row.appendChild(form);
  form.title.focus();
};
element.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button.pqa-kb-act") : null;
  if (!button) return;
  const row = button.closest("li.pqa-kb-row");
  const doc = row && row.dataset.doc;
  switch (button.dataset.do) {
    case "preview":
      trigger("click", { doc });
      if (window.matchMedia("(max-width: 900px)").matches) {
        setTimeout(() => document.getElementById("pqa-preview")?.scrollIntoView({ behavior: "smooth" }), 300);
      }
      break;
    case "edit":
      editor(row);
      break;
    case "cancel":
      button.closest("form").remove();
      break;
    case "delete":
      if (confirm(`确定删除“${doc}”吗？删除后只能重新上传恢复。`)) trigger("submit", { do: "delete", doc });
      break;
  }
});

// Files dropped on the list go through the upload button's own file input: the same checks,
// the same progress, the same admin-only rule.
const uploadInput = () => document.querySelector("#pqa-upload input[type=file], input[type=file][data-testid]");
element.addEventListener("dragover", (event) => {
  if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
  event.preventDefault();
  element.classList.add("pqa-dropping");
});
element.addEventListener("dragleave", (event) => {
  if (!element.contains(event.relatedTarget)) element.classList.remove("pqa-dropping");
});
element.addEventListener("drop", (event) => {
  event.preventDefault();
  element.classList.remove("pqa-dropping");
  const input = uploadInput();
  if (!input || !event.dataTransfer?.files?.length) return;
  const files = new DataTransfer();
  [...event.dataTransfer.files].forEach((file) => files.items.add(file));
  input.files = files.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
});
filter();
