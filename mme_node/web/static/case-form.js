// The case form's helpers: HPO term type-ahead, gene feedback, "add another row".
// The form works without this script; it only makes typing faster.
"use strict";

(function () {
  const DELAY_MS = 150;

  // ------------------------------------------------------------ type-ahead
  // An ARIA 1.2 combobox: the input owns a listbox of suggestions; arrow keys
  // move through them, Enter picks one, Escape closes the list.
  let listCount = 0;

  function attachTypeahead(input) {
    if (input.dataset.typeaheadReady) return;
    input.dataset.typeaheadReady = "yes";
    const list = document.createElement("ul");
    list.className = "suggestions";
    list.id = "suggestions-" + (++listCount);
    list.setAttribute("role", "listbox");
    list.hidden = true;
    input.after(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);

    let timer = null;
    let active = -1;
    let asked = "";

    function options() { return Array.from(list.querySelectorAll("[role=option]")); }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      const items = options();
      if (!items.length) return;
      active = (index + items.length) % items.length;
      items.forEach((item, i) => item.setAttribute("aria-selected", i === active ? "true" : "false"));
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    }

    function choose(item) {
      input.value = item.dataset.name + " (" + item.dataset.id + ")";
      close();
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function show(terms) {
      list.replaceChildren();
      terms.forEach((term, i) => {
        const item = document.createElement("li");
        item.id = list.id + "-" + i;
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", "false");
        item.dataset.id = term.id;
        item.dataset.name = term.name;
        const name = document.createElement("span");
        name.textContent = term.name;
        if (term.matched && term.matched !== term.name && term.matched !== term.id) {
          const synonym = document.createElement("span");
          synonym.className = "synonym";
          synonym.textContent = "also: " + term.matched;
          name.append(synonym);
        }
        const id = document.createElement("span");
        id.className = "term-id";
        id.textContent = term.id;
        item.append(name, id);
        item.addEventListener("mousedown", (event) => { event.preventDefault(); choose(item); });
        list.append(item);
      });
      if (!terms.length) {
        const none = document.createElement("li");
        none.className = "none";
        none.textContent = "No HPO term found";
        list.append(none);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }

    async function ask(text) {
      asked = text;
      try {
        const response = await fetch(input.dataset.typeahead + "?q=" + encodeURIComponent(text), {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        // An answer for text no longer in the field (typed on, or a term chosen) is stale:
        // shown, it would replace the list under the user's arrow keys or reopen it.
        const current = () => text === asked && text === input.value.trim();
        if (!response.ok || !current()) return;
        const answer = await response.json();
        if (current() && document.activeElement === input) show(answer.terms);
      } catch (error) {
        close();
      }
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      const text = input.value.trim();
      if (text.length < 2 || /\(HP:\d{7}\)$/.test(text)) { close(); asked = ""; return; }
      timer = setTimeout(() => ask(text), DELAY_MS);
    });
    input.addEventListener("keydown", (event) => {
      if (list.hidden) {
        if (event.key === "ArrowDown" && input.value.trim().length >= 2) ask(input.value.trim());
        return;
      }
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
      else if (event.key === "Enter") {
        const items = options();
        if (items.length) { event.preventDefault(); choose(items[active >= 0 ? active : 0]); }
      }
      else if (event.key === "Escape") { event.preventDefault(); close(); }
      else if (event.key === "Tab" && active >= 0) { choose(options()[active]); }
    });
    input.addEventListener("blur", () => setTimeout(close, 100));
  }

  // ------------------------------------------------------------ gene feedback
  function attachGeneCheck(input) {
    if (input.dataset.geneReady) return;
    input.dataset.geneReady = "yes";
    const feedback = document.getElementById(input.id + "-feedback");
    async function check() {
      const text = input.value.trim();
      feedback.textContent = "";
      feedback.classList.remove("problem");
      if (!text) return;
      try {
        const response = await fetch(input.dataset.geneCheck + "?q=" + encodeURIComponent(text), {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!response.ok || input.value.trim() !== text) return;
        const gene = await response.json();
        if (gene.problem) {
          feedback.textContent = gene.problem;
          feedback.classList.add("problem");
        } else if (gene.symbol.toLowerCase() !== text.toLowerCase()) {
          feedback.textContent = "→ " + gene.symbol + " (" + gene.hgncId + "), found as " + gene.foundAs;
        } else {
          feedback.textContent = "✓ " + gene.symbol + " (" + gene.hgncId + ")";
        }
      } catch (error) {
        feedback.textContent = "";
      }
    }
    input.addEventListener("change", check);
    if (input.value.trim()) check();
  }

  // ------------------------------------------------------------ more rows
  // A new row is a copy of the last one with its number moved on and its values cleared.
  function addRow(button) {
    const rows = document.getElementById(button.dataset.addRow);
    const last = rows.querySelector("[data-row]:last-of-type");
    const copy = last.cloneNode(true);
    const number = rows.querySelectorAll("[data-row]").length;
    const renumber = (text) => text.replace(/-(\d+)-/g, "-" + number + "-").replace(/ \d+$/, " " + (number + 1));
    copy.classList.remove("invalid");
    copy.querySelectorAll(".field-error, .suggestions").forEach((node) => node.remove());
    copy.querySelectorAll(".gene-feedback").forEach((node) => { node.textContent = ""; });
    copy.querySelectorAll("[id]").forEach((node) => { node.id = renumber(node.id); });
    copy.querySelectorAll("[for]").forEach((label) => {
      label.htmlFor = renumber(label.htmlFor);
      // The number is the last word of the label's last text (maybe in a hidden span).
      const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
      let last = null;
      while (walker.nextNode()) last = walker.currentNode;
      if (last) last.textContent = renumber(last.textContent);
    });
    copy.querySelectorAll("[aria-describedby]").forEach((node) => {
      node.setAttribute("aria-describedby", renumber(node.getAttribute("aria-describedby").replace(/\s*\S+-error/, "")));
    });
    copy.querySelectorAll("input, select").forEach((field) => {
      field.name = renumber(field.name);
      field.removeAttribute("aria-invalid");
      delete field.dataset.typeaheadReady;
      delete field.dataset.geneReady;
      ["role", "aria-expanded", "aria-controls", "aria-autocomplete", "aria-activedescendant"].forEach((name) => field.removeAttribute(name));
      if (field.tagName === "SELECT") field.selectedIndex = field.name.endsWith("assembly") ? field.selectedIndex : 0;
      else field.value = "";
    });
    rows.append(copy);
    enhance(copy);
    const first = copy.querySelector("input");
    if (first) first.focus();
  }

  function enhance(root) {
    root.querySelectorAll("input[data-typeahead]").forEach(attachTypeahead);
    root.querySelectorAll("input[data-gene-check]").forEach(attachGeneCheck);
  }

  enhance(document);
  document.querySelectorAll("button[data-add-row]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => addRow(button));
  });

  // After a refused save, take keyboard and screen reader users to the list of problems.
  const problems = document.getElementById("problems");
  if (problems) problems.focus();
})();
