// The source viewer's js_on_load (Gradio gives: element, trigger, props, watch).
// One click handler for the whole page: a citation card opens its document in the
// viewer; an [n] marker scrolls to its card. Data travels in the link's href because
// the chat's HTML sanitizer removes data-* attributes.
const root = element.getRootNode();
const byId = (id) => (root.getElementById ? root.getElementById(id) : document.getElementById(id));
window.__pqaOpenSource = (detail) => trigger("click", detail);
if (!root.__pqaClicks) {
  root.__pqaClicks = true;
  root.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const back = target.closest("a.pqa-back");
    if (back) {
      event.preventDefault();
      const chat = byId("pqa-chat");
      if (chat) chat.scrollIntoView({ behavior: "smooth", block: "start" });
      return;
    }
    const marker = target.closest("a.pqa-marker");
    if (marker) {
      event.preventDefault();
      const card = byId(marker.getAttribute("href").slice(1));
      const fold = card && card.closest("details");
      if (fold) fold.open = true; // the card is among the folded ones (展开全部 N 条来源)
      if (card) {
        card.scrollIntoView({ behavior: "smooth", block: "nearest" });
        card.classList.remove("pqa-flash");
        void card.offsetWidth; // restart the animation
        card.classList.add("pqa-flash");
      }
      return;
    }
    const pageLink = target.closest("a.pqa-page-link");
    if (pageLink) {
      // 上一页 / 下一页 of a PDF or picture: the viewer, or the 知识库 preview, shows that page.
      event.preventDefault();
      const query = new URLSearchParams(pageLink.getAttribute("href").split("?")[1] || "");
      if (pageLink.closest("#pqa-preview") && window.__pqaPreview) {
        window.__pqaPreview({ doc: query.get("doc"), start: query.get("start") });
      } else {
        window.__pqaOpenSource({ doc_id: query.get("doc"), start: query.get("start"), end: query.get("end") });
      }
      return;
    }
    const card = target.closest(".pqa-card");
    const link = card && card.querySelector("a.pqa-open");
    if (!link) return;
    event.preventDefault();
    const query = new URLSearchParams(link.getAttribute("href").split("?")[1] || "");
    root.querySelectorAll(".pqa-card.pqa-active").forEach((c) => c.classList.remove("pqa-active"));
    card.classList.add("pqa-active");
    window.__pqaOpenSource({ doc_id: query.get("doc"), start: query.get("start"), end: query.get("end") });
  });
}
watch("value", () => {
  const doc = element.querySelector(".pqa-doc");
  const hit = element.querySelector(".pqa-hit");
  if (doc && hit) {
    doc.scrollTop = Math.max(0, hit.offsetTop - doc.clientHeight / 3);
  }
  // On a phone the viewer sits below the chat: bring it into view.
  if (hit && window.matchMedia("(max-width: 900px)").matches) {
    element.scrollIntoView({ behavior: "smooth", block: "start" });
  }
});
// Gradio's ChatInterface blanks the question box's hint while answering and never
// puts it back; restore it whenever the box is usable again. The hint text comes from
// the server (QUESTION_HINT, prepended by ui/app.py), never from the box itself: a box
// first seen mid-answer has a blank hint, and "restoring" a blank hint re-triggered
// this observer forever, freezing the page. Writing only a different value ends the loop.
const keepHint = (tries) => {
  const box = root.querySelector("#pqa-question textarea");
  if (!box) {
    if (tries > 0) setTimeout(() => keepHint(tries - 1), 300);
    return;
  }
  if (box.__pqaHint) return;
  box.__pqaHint = true;
  new MutationObserver(() => {
    if (!box.disabled && box.getAttribute("placeholder") !== QUESTION_HINT) box.setAttribute("placeholder", QUESTION_HINT);
  }).observe(box, { attributes: true, attributeFilter: ["placeholder", "disabled"] });
};
keepHint(100);
