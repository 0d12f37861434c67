// Building elements from data: whatever the server sent goes in as text, never as markup.

/**
 * `el("a", { href: "/x", class: "mono" }, "text", child)`: an element with its attributes
 * (null, undefined and false ones left out) and children (strings and numbers become text).
 */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/**
 * Replace the page's content with a "not found" notice (what the server's 404 page says), for
 * when the API, not the page route, found the run or experiment missing.
 */
export function showNotFound(what, back = { href: "/", label: "Back to experiments" }) {
  document.title = `Not found · mltrail`;
  document.querySelector("main.page").replaceChildren(
    el(
      "section",
      { class: "empty-state", "data-role": "not-found" },
      el("h1", {}, `No such ${what}`),
      el("p", { class: "muted" }, `The address does not name a ${what} this server knows.`),
      el("p", {}, el("a", { class: "btn", href: back.href }, back.label)),
    ),
  );
}
