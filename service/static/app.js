// techmatch web page: one search box, ranked and explained matches, a detail view per record.
// Plain JavaScript served by the app itself (no CDN, no build step).
"use strict";

const TEXTS = {
  en: {
    brand: "techmatch",
    queryLabel: "Describe a technology need or a research project",
    queryPlaceholder: "Describe a technology need or a research project, e.g. porosity when laser welding aluminium battery trays",
    directionLabel: "What is this text?",
    needToProjects: "A need: find research projects",
    projectToNeeds: "A project: find enterprise needs",
    filters: "Filters",
    field: "Field or industry",
    institution: "Institution",
    trlMin: "TRL at least",
    trlMax: "TRL at most",
    region: "Region",
    topK: "Results",
    search: "Find matches",
    back: "← Back to search",
    itsMatches: "Its matches",
    searching: "Searching…",
    found: (count, candidates) => `${count} matches among ${candidates} candidates`,
    none: "No matches.",
    why: "Why this match",
    shared: "Shared",
    related: "Related",
    similarity: "similarity",
    strong: "Strong match",
    possible: "Possible match",
    weak: "Weak match",
    strengthHelp: "How likely this is a right match, calibrated on labelled matches in the same pair of languages",
    noGood: "No good match: even the closest candidates below are weak.",
    yourText: "Your text",
    thisRecord: "This record",
    theMatch: "The match",
    evidence: "Closest sentences",
    trl: "TRL",
    language: "中文",
  },
  zh: {
    brand: "techmatch 技术对接",
    queryLabel: "描述技术需求或科研项目",
    queryPlaceholder: "描述技术需求或科研项目，例如：铝合金电池托盘激光焊接气孔问题",
    directionLabel: "这段文字是？",
    needToProjects: "技术需求：查找科研项目",
    projectToNeeds: "科研项目：查找企业需求",
    filters: "筛选",
    field: "领域或行业",
    institution: "单位",
    trlMin: "技术成熟度不低于",
    trlMax: "技术成熟度不高于",
    region: "地区",
    topK: "结果数",
    search: "查找匹配",
    back: "← 返回搜索",
    itsMatches: "匹配结果",
    searching: "正在搜索…",
    found: (count, candidates) => `在 ${candidates} 个候选中找到 ${count} 个匹配`,
    none: "没有匹配结果。",
    why: "匹配理由",
    shared: "共同关键词",
    related: "相关词",
    similarity: "相似度",
    strong: "强匹配",
    possible: "可能匹配",
    weak: "弱匹配",
    strengthHelp: "匹配正确的可能性，按同一语言组合的已标注匹配校准",
    noGood: "没有合适的匹配：下列最接近的候选匹配度都很弱。",
    yourText: "您的文字",
    thisRecord: "本条记录",
    theMatch: "匹配记录",
    evidence: "最相近的句子",
    trl: "成熟度",
    language: "English",
  },
};

// The language switch reads "中文" even on an English page. Chromium drew those two glyphs as boxes
// and kept them so after the CJK face loaded: load the face outright, then name it on the switch.
if (document.fonts) {
  document.fonts
    .load('1em "techmatch CJK"', "中文")
    .then(() => {
      document.getElementById("language").style.fontFamily = '"techmatch CJK", system-ui, sans-serif';
    })
    .catch(() => {});
}

let language = localStorage.getItem("techmatch.language") || (navigator.language.startsWith("zh") ? "zh" : "en");
const t = (key, ...args) => {
  const value = TEXTS[language][key];
  return typeof value === "function" ? value(...args) : value;
};

function applyLanguage() {
  document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((node) => { node.placeholder = t(node.dataset.i18nPlaceholder); });
  const switcher = document.getElementById("language");
  switcher.textContent = t("language");
  switcher.lang = language === "zh" ? "en" : "zh-CN"; // the switch names the other language, in it
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// The server counts offsets in code points; JavaScript strings index UTF-16 units. Map one to the other
// so a character outside the BMP (an emoji, a math letter) does not shift every later highlight.
function unitOffsets(text) {
  const units = [];
  let unit = 0;
  for (const character of text) { units.push(unit); unit += character.length; }
  units.push(unit);
  return units;
}

// Wrap parts of `text` in marks: `spans` are {start, end, cls} in code points; overlapping spans add their classes.
function highlight(text, codePointSpans) {
  const units = unitOffsets(text);
  const at = (offset) => units[Math.max(0, Math.min(offset, units.length - 1))];
  const spans = codePointSpans.map((s) => ({ start: at(s.start), end: at(s.end), cls: s.cls }));
  const cuts = new Set([0, text.length]);
  spans.forEach((s) => { cuts.add(Math.max(0, Math.min(s.start, text.length))); cuts.add(Math.max(0, Math.min(s.end, text.length))); });
  const points = [...cuts].sort((a, b) => a - b);
  let html = "";
  for (let i = 0; i < points.length - 1; i += 1) {
    const [from, to] = [points[i], points[i + 1]];
    const classes = new Set(spans.filter((s) => s.start <= from && to <= s.end).map((s) => s.cls));
    const piece = escapeHtml(text.slice(from, to));
    const marks = [...classes].filter((c) => c !== "evidence-sentence");
    let inner = marks.length ? `<mark class="${marks.join(" ")}">${piece}</mark>` : piece;
    if (classes.has("evidence-sentence")) inner = `<span class="evidence-sentence">${inner}</span>`;
    html += inner;
  }
  return html;
}

// The spans to mark in one field of one side ("query" or "match") of an explanation.
function spansFor(explanation, side, field) {
  const spans = [];
  const take = (occurrences, cls) => occurrences.filter((o) => o.field === field).forEach((o) => spans.push({ start: o.start, end: o.end, cls }));
  explanation.shared_terms.forEach((term) => take(term[`${side}_occurrences`], "shared"));
  explanation.related_terms.forEach((pair) => take(pair[`${side}_occurrences`], "related"));
  if (explanation.evidence && explanation.evidence[side].field === field) {
    const sentence = explanation.evidence[side];
    spans.push({ start: sentence.start, end: sentence.end, cls: "evidence-sentence" });
  }
  return spans;
}

function bodyField(record) {
  return "abstract" in record ? "abstract" : "description";
}

function fieldsHtml(fields, explanation, side) {
  return Object.entries(fields)
    .map(([field, text]) => `<div class="body" data-field="${field}">${highlight(text || "", explanation ? spansFor(explanation, side, field) : [])}</div>`)
    .join("");
}

function owner(record) {
  return record.institution || record.enterprise || "";
}

function renderMatch(match, queryFields, open) {
  const item = document.createElement("li");
  item.className = "match";
  item.dataset.id = match.id;
  const kind = match.kind;
  const explanation = match.explanation;
  const chips = explanation
    ? [
        ...explanation.shared_terms.map((term) => `<li class="shared" title="${t("shared")} · ${term.weight}">${escapeHtml(term.term)}</li>`),
        ...explanation.related_terms.map((pair) => `<li class="related" title="${t("related")} · ${pair.similarity}">${escapeHtml(pair.query_term)} ~ ${escapeHtml(pair.match_term)}</li>`),
      ].join("")
    : "";
  const matchFields = { title: match.title, [bodyField(match)]: match[bodyField(match)] };
  item.innerHTML = `
    <h3><span class="rank">${match.rank}.</span> <a href="#/${kind}/${encodeURIComponent(match.id)}">${escapeHtml(match.title)}</a></h3>
    <div class="meta">
      <span class="owner">${escapeHtml(owner(match))}</span>
      <span class="band band-${match.band || "weak"}" title="${t("strengthHelp")} · score ${(match.score ?? 0).toFixed(3)}">${t(match.band || "weak")} ${(100 * (match.strength ?? 0)).toFixed(0)}%</span>
      ${match.trl ? `<span>${t("trl")} ${match.trl}</span>` : ""}
    </div>
    ${explanation ? `<p class="summary">${escapeHtml(explanation.summary)}</p><ul class="terms">${chips}</ul>` : ""}
    ${explanation ? `<details class="why"${open ? " open" : ""}><summary>${t("why")}</summary>
      <div class="texts">
        <div class="query-text"><h4>${queryFields.label}</h4>${fieldsHtml(queryFields.fields, explanation, "query")}</div>
        <div class="match-text"><h4>${t("theMatch")}</h4>${fieldsHtml(matchFields, explanation, "match")}</div>
      </div></details>` : ""}`;
  return item;
}

function renderResults(list, body, queryFields) {
  list.innerHTML = "";
  if (body.no_good_match && body.matches.length) {
    const notice = document.createElement("li");
    notice.className = "notice no-good-match";
    notice.textContent = t("noGood");
    list.appendChild(notice);
  }
  body.matches.forEach((match, index) => list.appendChild(renderMatch(match, queryFields, index === 0)));
}

async function api(path, options) {
  const response = await fetch(`/api/v1${path}`, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

function filtersFrom(form, direction) {
  const filters = {};
  const wanted = direction === "need_to_projects" ? ["field", "institution", "trl_min", "trl_max"] : ["field", "region"];
  wanted.forEach((name) => {
    const value = form.elements[name].value.trim();
    if (value) filters[name] = name.startsWith("trl") ? Number(value) : value;
  });
  return filters;
}

async function search(event) {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById("status");
  const direction = form.elements.direction.value;
  const text = form.elements.text.value;
  status.className = "";
  status.textContent = t("searching");
  try {
    const body = await api("/match", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text, direction, top_k: Number(form.elements.top_k.value) || 10, filters: filtersFrom(form, direction) }),
    });
    status.textContent = body.count ? t("found", body.count, body.candidates) : t("none");
    renderResults(document.getElementById("results"), body, { label: t("yourText"), fields: { text } });
  } catch (error) {
    status.className = "error";
    status.textContent = error.message;
  }
}

async function showDetail(kind, id) {
  document.getElementById("search-view").hidden = true;
  document.getElementById("detail-view").hidden = false;
  const detail = document.getElementById("detail");
  const list = document.getElementById("detail-results");
  detail.textContent = t("searching");
  list.innerHTML = "";
  try {
    const record = await api(`/${kind}/${encodeURIComponent(id)}`);
    const fields = { title: record.title, [bodyField(record)]: record[bodyField(record)] };
    detail.innerHTML = `<h2>${escapeHtml(record.title)}</h2><div class="meta"><span>${escapeHtml(owner(record))}</span>
      ${record.trl ? `<span>${t("trl")} ${record.trl}</span>` : ""}</div><p class="body">${escapeHtml(fields[bodyField(record)] || "")}</p>`;
    const body = await api(`/${kind}/${encodeURIComponent(id)}/matches?top_k=10`);
    renderResults(list, body, { label: t("thisRecord"), fields });
  } catch (error) {
    detail.innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
  }
}

function route() {
  const match = location.hash.match(/^#\/(projects|needs)\/(.+)$/);
  if (match) {
    showDetail(match[1], decodeURIComponent(match[2]));
  } else {
    document.getElementById("search-view").hidden = false;
    document.getElementById("detail-view").hidden = true;
  }
}

function directionChanged() {
  const toProjects = document.querySelector("input[name=direction]:checked").value === "need_to_projects";
  document.querySelectorAll(".projects-only").forEach((node) => { node.hidden = !toProjects; });
  document.querySelectorAll(".needs-only").forEach((node) => { node.hidden = toProjects; });
}

document.getElementById("search").addEventListener("submit", search);
document.querySelectorAll("input[name=direction]").forEach((node) => node.addEventListener("change", directionChanged));
document.getElementById("language").addEventListener("click", () => {
  language = language === "en" ? "zh" : "en";
  localStorage.setItem("techmatch.language", language);
  applyLanguage();
});
window.addEventListener("hashchange", route);
applyLanguage();
route();
