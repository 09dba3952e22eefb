// The page at GET /ui: one case from a form, several from a CSV file, through the service's
// own API (/predict?explain=true, /predict/batch). Plain JavaScript, no framework, no build
// step; served with a Content-Security-Policy that allows only this file as script.
"use strict";

(() => {
  const KEY_STORAGE = "bcml.apiKey"; // sessionStorage only: gone when the tab is closed
  const TOP_CONTRIBUTIONS = 10;
  let config = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "className") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function show(id, message) {
    const node = $(id);
    node.textContent = message || "";
    node.hidden = !message;
  }

  // ---- the API key -----------------------------------------------------------------------
  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  }

  function showKeyStatus() {
    const required = config ? config.api_key_required : false;
    let text;
    if (apiKey()) text = "A key is set for this tab.";
    else if (required) text = "This service needs a key: enter it once for this tab.";
    else text = "This service needs no key.";
    $("key-status").textContent = text;
  }

  function setUpKey() {
    $("api-key").value = apiKey();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
      show("page-message", "");
      showKeyStatus();
    });
    $("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      $("api-key").value = "";
      showKeyStatus();
    });
  }

  // ---- talking to the service ------------------------------------------------------------
  class PageError extends Error {
    constructor(message, field) {
      super(message);
      this.field = field || null;
    }
  }

  async function post(path, body) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    const key = apiKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw new PageError(
        `The service could not be reached (${error.message}). Check the network and try again.`,
      );
    }
    let doc = null;
    try {
      doc = await response.json();
    } catch (error) {
      doc = null; // an answer that is not JSON (a proxy's error page): reported by status
    }
    return { status: response.status, doc };
  }

  function failure(status, doc) {
    if (status === 401) {
      return new PageError("API key missing or wrong: enter the key above and try again.");
    }
    const error = doc && doc.error ? doc.error : null;
    const message = error && error.message ? error.message : `The service answered ${status}.`;
    return new PageError(message, error ? error.field : null);
  }

  // ---- the form for one case -------------------------------------------------------------
  function inputFor(feature) {
    return document.querySelector(`input[data-feature="${CSS.escape(feature)}"]`);
  }

  function buildForm() {
    const groups = $("groups");
    groups.replaceChildren();
    for (const group of config.groups) {
      const fieldset = el("fieldset", { className: "group" }, el("legend", { text: group.title }));
      for (const feature of group.features) {
        const id = `f-${config.features.indexOf(feature.name)}`;
        const input = el("input", {
          id,
          name: feature.name,
          "data-feature": feature.name,
          type: "number",
          min: "0",
          max: String(feature.max),
          step: "any",
          inputmode: "decimal",
          required: "",
          title: `${feature.name}: ${feature.hint}`,
        });
        const label = el(
          "label",
          { for: id },
          el("span", { className: "name", text: feature.label }),
          el("span", { className: "hint", text: `${feature.name}: ${feature.hint}` }),
        );
        fieldset.append(el("div", { className: "field" }, label, input));
      }
      groups.append(fieldset);
    }
  }

  function fill(example) {
    for (const [name, value] of Object.entries(config.examples[example])) {
      inputFor(name).value = String(value);
    }
    clearFieldErrors();
    show("form-message", "");
  }

  function clearFieldErrors() {
    for (const input of document.querySelectorAll("#groups input")) {
      input.removeAttribute("aria-invalid");
    }
  }

  function markField(field) {
    if (!field) return;
    // the server names a feature ("area_mean", "features.area_mean") or a position
    const name = config.features.find((f) => field === f || field.endsWith(`.${f}`));
    const index = /(\d+)$/.exec(field);
    const feature = name || (index ? config.features[Number(index[1])] : null);
    const input = feature ? inputFor(feature) : null;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  function readForm() {
    const features = {};
    for (const name of config.features) {
      const input = inputFor(name);
      if (input.validity.badInput) throw new PageError(`${name}: not a number`, name);
      if (input.value.trim() === "") throw new PageError(`${name}: enter a value`, name);
      features[name] = Number(input.value);
    }
    return features;
  }

  async function predictOne(event) {
    event.preventDefault();
    clearFieldErrors();
    show("form-message", "");
    const button = $("predict");
    button.disabled = true;
    try {
      const features = readForm();
      let { status, doc } = await post("/predict?explain=true", { features });
      let noExplanation = null;
      if (status === 501) {
        // the model cannot be explained: the decision still counts
        noExplanation = failure(status, doc).message;
        ({ status, doc } = await post("/predict", { features }));
      }
      if (status !== 200 || !doc) throw failure(status, doc);
      showAnswer(doc, noExplanation);
    } catch (error) {
      if (!(error instanceof PageError)) throw error;
      show("form-message", error.message);
      markField(error.field);
    } finally {
      button.disabled = false;
    }
  }

  // ---- the answer ------------------------------------------------------------------------
  const DECISIONS = {
    malignant: "Malignant",
    benign: "Benign",
    refer: "Refer to a clinician",
  };

  function showAnswer(doc, noExplanation) {
    $("result").hidden = false;
    const decision = $("decision");
    decision.textContent = DECISIONS[doc.decision] || doc.decision;
    decision.className = `decision decision-${doc.decision}`;
    decision.dataset.decision = doc.decision;
    $("refer-note").hidden = doc.decision !== "refer";
    const probability = $("probability");
    probability.textContent = doc.probability.toFixed(4);
    probability.dataset.value = String(doc.probability);
    $("confidence").textContent = doc.confidence;
    $("threshold").textContent = String(doc.threshold);
    $("model-version").textContent = doc.model_version;

    const warnings = $("warnings");
    warnings.replaceChildren();
    for (const w of doc.warnings || []) {
      warnings.append(
        el("li", {
          "data-feature": w.feature,
          text:
            `${w.feature} = ${w.value}: outside the range the model was trained on ` +
            `(${w.low} to ${w.high})`,
        }),
      );
    }
    $("warnings-box").hidden = warnings.childElementCount === 0;
    showExplanation(doc, noExplanation);
    $("result").scrollIntoView({ block: "nearest" });
  }

  function showExplanation(doc, noExplanation) {
    const chart = $("chart");
    chart.replaceChildren();
    const explanation = doc.explanation;
    if (!explanation || !Array.isArray(explanation.contributions)) {
      show(
        "explanation-note",
        noExplanation
          ? `No explanation for this model: ${noExplanation}`
          : "No explanation: the service gave none with this answer (a service or model " +
              "that does not explain its predictions).",
      );
      return;
    }
    const top = explanation.contributions.slice(0, TOP_CONTRIBUTIONS);
    const total = explanation.contributions.reduce((sum, c) => sum + c.contribution, 0);
    const rest = total - top.reduce((sum, c) => sum + c.contribution, 0);
    const logOdds = explanation.base + total;
    show(
      "explanation-note",
      `Method: ${explanation.method}. Contributions to the log-odds of malignancy: bars to ` +
        `the right push towards malignant, to the left towards benign. Reference ` +
        `(base) ${explanation.base.toFixed(3)} + all ${explanation.contributions.length} ` +
        `contributions = ${logOdds.toFixed(3)}; the ${explanation.contributions.length - top.length} ` +
        `features not shown add ${rest.toFixed(3)}.`,
    );
    const largest = Math.max(...top.map((c) => Math.abs(c.contribution)), 1e-12);
    for (const c of top) {
      const half = (Math.abs(c.contribution) / largest) * 50; // percent of the chart's width
      const bar = el("div", {
        className: `bar ${c.contribution >= 0 ? "bar-malignant" : "bar-benign"}`,
      });
      // CSSOM writes are allowed under the page's CSP (no inline style attribute)
      bar.style.width = `${half}%`;
      bar.style.left = c.contribution >= 0 ? "50%" : `${50 - half}%`;
      chart.append(
        el(
          "div",
          { className: "bar-row", "data-feature": c.feature },
          el("span", { className: "bar-label", text: `${c.feature} = ${c.value}` }),
          el("span", { className: "bar-track" }, bar),
          el("span", {
            className: "bar-value",
            text: (c.contribution >= 0 ? "+" : "") + c.contribution.toFixed(3),
          }),
        ),
      );
    }
  }

  // ---- several cases from a CSV file -----------------------------------------------------
  function parseCsv(text) {
    // RFC 4180: fields separated by commas, optionally quoted ("" is a quote inside quotes)
    const rows = [];
    let row = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < text.length; i += 1) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') {
          field += '"';
          i += 1;
        } else if (ch === '"') quoted = false;
        else field += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ",") {
        row.push(field);
        field = "";
      } else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") i += 1;
        row.push(field);
        rows.push(row);
        row = [];
        field = "";
      } else field += ch;
    }
    if (field !== "" || row.length) {
      row.push(field);
      rows.push(row);
    }
    return rows.filter((r) => r.some((value) => value.trim() !== ""));
  }

  function casesFromCsv(text) {
    const rows = parseCsv(text.replace(/^\uFEFF/, ""));
    if (rows.length === 0) throw new PageError("The file is empty.");
    const header = rows[0].map((name) => name.trim());
    const columns = config.features.map((f) => header.indexOf(f));
    const missing = config.features.filter((f, i) => columns[i] < 0);
    if (missing.length) {
      throw new PageError(
        `The header lacks ${missing.length} of the 30 feature columns: ` +
          `${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}.`,
      );
    }
    const data = rows.slice(1);
    if (data.length === 0) throw new PageError("The file has a header but no cases.");
    if (data.length > config.max_batch_rows) {
      throw new PageError(
        `The file has ${data.length} cases, more than the service's limit of ` +
          `${config.max_batch_rows} per request (max_batch_rows): split the file.`,
      );
    }
    const idColumn = header.indexOf("id");
    const instances = data.map((values, r) =>
      config.features.map((feature, i) => {
        const raw = (values[columns[i]] || "").trim();
        const value = Number(raw);
        if (raw === "" || !Number.isFinite(value)) {
          throw new PageError(
            `Row ${r + 1}, ${feature}: ${raw === "" ? "empty" : `"${raw}" is not a number`}.`,
          );
        }
        return value;
      }),
    );
    const ids = data.map((values) => (idColumn >= 0 ? (values[idColumn] || "").trim() : ""));
    return { instances, ids };
  }

  async function predictBatch(event) {
    event.preventDefault();
    show("batch-message", "");
    const file = $("csv-file").files[0];
    if (!file) {
      show("batch-message", "Choose a CSV file first.");
      return;
    }
    const button = $("predict-batch");
    button.disabled = true;
    try {
      const { instances, ids } = casesFromCsv(await file.text());
      const { status, doc } = await post("/predict/batch", { instances });
      if (status !== 200 || !doc) {
        const error = failure(status, doc);
        const row = error.field ? /instances\D*(\d+)/.exec(error.field) : null;
        throw new PageError(
          row ? `Row ${Number(row[1]) + 1}: ${error.message}` : error.message,
        );
      }
      showTable(doc.predictions, ids);
    } catch (error) {
      if (!(error instanceof PageError)) throw error;
      $("batch-table").hidden = true;
      show("batch-message", error.message);
    } finally {
      button.disabled = false;
    }
  }

  function showTable(predictions, ids) {
    const body = $("batch-table").tBodies[0];
    body.replaceChildren();
    predictions.forEach((p, i) => {
      const warnings = (p.warnings || []).map((w) => w.feature).join(", ");
      body.append(
        el(
          "tr",
          { "data-decision": p.decision },
          el("td", { text: String(i + 1) }),
          el("td", { text: ids[i] || "" }),
          el("td", {
            className: `decision-cell decision-${p.decision}`,
            text: DECISIONS[p.decision] || p.decision,
          }),
          el("td", { text: p.probability.toFixed(4), "data-value": String(p.probability) }),
          el("td", { text: warnings || "none" }),
        ),
      );
    });
    $("batch-table").hidden = false;
  }

  // ---- start -----------------------------------------------------------------------------
  async function start() {
    setUpKey();
    try {
      const response = await fetch("/ui/config.json", { cache: "no-store" });
      if (!response.ok) throw new Error(`the service answered ${response.status}`);
      config = await response.json();
    } catch (error) {
      show("page-message", `The page could not load its settings (${error.message}); reload it.`);
      return;
    }
    buildForm();
    showKeyStatus();
    $("max-rows").textContent = String(config.max_batch_rows);
    $("fill-malignant").addEventListener("click", () => fill("malignant"));
    $("fill-benign").addEventListener("click", () => fill("benign"));
    $("clear-form").addEventListener("click", () => {
      $("case-form").reset();
      clearFieldErrors();
      show("form-message", "");
    });
    $("case-form").addEventListener("submit", predictOne);
    $("batch-form").addEventListener("submit", predictBatch);
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
