// techmatch web page: one search box, ranked and explained matches, a detail page per record, and
// requests for an introduction. Plain JavaScript served by the app itself (no CDN, no build step).
//
// The search lives in the URL (#/?q=...&dir=...&field=...&n=...), so a link shares it, a reload keeps
// it and back/forward walk through searches. The last answers are kept in memory: switching the
// language re-renders everything on screen from them, without asking the server again.
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
    filtersActive: (n) => `Filters (${n})`,
    clearFilters: "Clear filters",
    any: "Any",
    field: "Field",
    industry: "Industry",
    institution: "Institution",
    enterprise: "Enterprise",
    ipStatus: "IP status",
    trlMin: "TRL at least",
    trlMax: "TRL at most",
    region: "Region",
    recordLanguage: "Language of the record",
    deadlineFrom: "Deadline on or after",
    search: "Find matches",
    back: "← Back to search",
    itsMatches: "Its matches",
    searching: "Searching…",
    loading: "Loading…",
    found: (count, candidates) => `${count} matches among ${candidates} candidates`,
    foundShown: (shown, count, candidates) => `${shown} good ${shown === 1 ? "match" : "matches"} shown (${count} found among ${candidates} candidates)`,
    none: "No matches.",
    why: "Why this match",
    shared: "Shared",
    related: "Related",
    strong: "Strong match",
    possible: "Possible match",
    weak: "Weak match",
    strengthHelp: "How likely this is a right match, calibrated on labelled matches in the same pair of languages",
    noGood: "No good match: even the closest candidates are weak.",
    showWeak: (n) => `Show ${n} weaker ${n === 1 ? "match" : "matches"}`,
    hideWeak: "Hide weaker matches",
    weakLine: "Weaker matches: less likely to fit",
    more: "More results",
    yourText: "Your text",
    thisRecord: "This record",
    theMatch: "The match",
    trl: "TRL",
    legend: "Legend",
    legendShared: "shared term",
    legendRelated: "related term",
    legendEvidence: "closest sentence",
    copyLink: "Copy link",
    linkCopied: "Link copied",
    exportCsv: "Export list (CSV)",
    requestIntro: "Request an introduction",
    introTitle: "Request an introduction",
    introHelp: "Staff of the technology transfer office read every request and put you in touch.",
    introTo: (title, id) => `To: ${title} (${id})`,
    yourName: "Your name",
    organisation: "Organisation",
    contactField: "E-mail or phone",
    message: "Message",
    send: "Send request",
    cancel: "Cancel",
    close: "Close",
    sending: "Sending…",
    introSent: "Thank you: your request was sent. Staff will contact you.",
    needName: "Please give your name.",
    needContact: "Please give an e-mail address or a phone number.",
    badContact: "This is neither an e-mail address nor a phone number.",
    tooSoon: (s) => `That was quick: please check the form and send it again in ${s} s.`,
    duplicate: "You already asked for this introduction a short while ago; staff will answer it.",
    rateLimited: "Too many requests from this connection; please try again later.",
    staffLink: "Staff console",
    apiLink: "API",
    notFound: "This record does not exist (any more).",
    language: "中文",
    // record fields, as the detail page labels them
    f_id: "ID",
    f_kind: "Kind",
    f_title: "Title",
    f_abstract: "Abstract",
    f_description: "Description",
    f_institution: "Institution",
    f_enterprise: "Enterprise",
    f_contact: "Contact",
    f_fields: "Fields",
    f_keywords: "Keywords",
    f_trl: "Technology readiness (TRL)",
    f_ip_status: "IP status",
    f_industry: "Industry",
    f_region: "Region",
    f_budget: "Budget",
    f_deadline: "Deadline",
    f_language: "Language",
    f_url: "Web page",
    f_updated: "Updated",
    f_metadata: "More",
    f_rank: "Rank",
    f_band: "Match",
    f_strength: "Strength (%)",
    f_summary: "Why",
    kind_projects: "Research project",
    kind_needs: "Enterprise need",
    lang_en: "English",
    lang_zh: "Chinese",
    noValue: "—",
  },
  zh: {
    brand: "techmatch 技术对接",
    queryLabel: "描述技术需求或科研项目",
    queryPlaceholder: "描述技术需求或科研项目，例如：铝合金电池托盘激光焊接气孔问题",
    directionLabel: "这段文字是？",
    needToProjects: "技术需求：查找科研项目",
    projectToNeeds: "科研项目：查找企业需求",
    filters: "筛选",
    filtersActive: (n) => `筛选（${n}）`,
    clearFilters: "清除筛选",
    any: "不限",
    field: "领域",
    industry: "行业",
    institution: "单位",
    enterprise: "企业",
    ipStatus: "知识产权",
    trlMin: "技术成熟度不低于",
    trlMax: "技术成熟度不高于",
    region: "地区",
    recordLanguage: "记录语言",
    deadlineFrom: "截止日期不早于",
    search: "查找匹配",
    back: "← 返回搜索",
    itsMatches: "匹配结果",
    searching: "正在搜索…",
    loading: "正在加载…",
    found: (count, candidates) => `在 ${candidates} 个候选中找到 ${count} 个匹配`,
    foundShown: (shown, count, candidates) => `显示 ${shown} 个较好的匹配（在 ${candidates} 个候选中找到 ${count} 个匹配）`,
    none: "没有匹配结果。",
    why: "匹配理由",
    shared: "共同关键词",
    related: "相关词",
    strong: "强匹配",
    possible: "可能匹配",
    weak: "弱匹配",
    strengthHelp: "匹配正确的可能性，按同一语言组合的已标注匹配校准",
    noGood: "没有合适的匹配：最接近的候选匹配度都很弱。",
    showWeak: (n) => `显示 ${n} 个较弱的匹配`,
    hideWeak: "隐藏较弱的匹配",
    weakLine: "较弱的匹配：不太可能合适",
    more: "更多结果",
    yourText: "您的文字",
    thisRecord: "本条记录",
    theMatch: "匹配记录",
    trl: "成熟度",
    legend: "图例",
    legendShared: "共同关键词",
    legendRelated: "相关词",
    legendEvidence: "最相近的句子",
    copyLink: "复制链接",
    linkCopied: "链接已复制",
    exportCsv: "导出列表（CSV）",
    requestIntro: "申请对接",
    introTitle: "申请对接",
    introHelp: "技术转移办公室的工作人员会阅读每一份申请，并为您牵线联系。",
    introTo: (title, id) => `对接对象：${title}（${id}）`,
    yourName: "您的姓名",
    organisation: "单位",
    contactField: "邮箱或电话",
    message: "留言",
    send: "提交申请",
    cancel: "取消",
    close: "关闭",
    sending: "正在提交…",
    introSent: "谢谢！您的申请已提交，工作人员会与您联系。",
    needName: "请填写您的姓名。",
    needContact: "请填写邮箱或电话。",
    badContact: "这既不是邮箱地址，也不是电话号码。",
    tooSoon: (s) => `提交得太快了：请检查表单，${s} 秒后再提交。`,
    duplicate: "您不久前已申请过此对接，工作人员会回复。",
    rateLimited: "此网络连接的申请过多，请稍后再试。",
    staffLink: "工作台",
    apiLink: "API",
    notFound: "该记录不存在（或已删除）。",
    language: "English",
    f_id: "编号",
    f_kind: "类型",
    f_title: "标题",
    f_abstract: "摘要",
    f_description: "需求描述",
    f_institution: "单位",
    f_enterprise: "企业",
    f_contact: "联系方式",
    f_fields: "领域",
    f_keywords: "关键词",
    f_trl: "技术成熟度（TRL）",
    f_ip_status: "知识产权",
    f_industry: "行业",
    f_region: "地区",
    f_budget: "预算",
    f_deadline: "截止日期",
    f_language: "语言",
    f_url: "网页",
    f_updated: "更新日期",
    f_metadata: "其他信息",
    f_rank: "排名",
    f_band: "匹配",
    f_strength: "匹配度（%）",
    f_summary: "匹配理由",
    kind_projects: "科研项目",
    kind_needs: "企业需求",
    lang_en: "英文",
    lang_zh: "中文",
    noValue: "—",
  },
};

// Known values of the catalogue's vocabularies, in the other language (a value not listed shows as written).
const VALUE_TEXTS = {
  zh: {
    "agriculture and food": "农业与食品", "applied chemistry": "应用化学", automotive: "汽车", biomedicine: "生物医药",
    energy: "能源", "new materials": "新材料", "new-energy vehicles": "新能源汽车", "optics and photonics": "光学与光电子",
    "rail equipment": "轨道交通装备", "patent granted": "已授权专利", "patent pending": "专利申请中",
    "no patent": "无专利", licensed: "已许可", Changbai: "长白", Jilin: "吉林", Harbin: "哈尔滨", Dalian: "大连",
    Shenyang: "沈阳", en: "英文", zh: "中文",
  },
  en: { en: "English", zh: "Chinese" },
};

const PAGE = 10; // results per step of "more"
const MAX_TOP_K = 100;
const PROJECT_FILTERS = ["field", "institution", "ip_status", "trl_min", "trl_max", "language"];
const NEED_FILTERS = ["industry", "region", "enterprise", "language", "deadline_from"];
const FORM_NAME = { projects: {}, needs: { language: "need_language" } }; // filter name -> form field

// The language switch reads "中文" even on an English page. Chromium drew those two glyphs as boxes
// and kept them so after the CJK face loaded: load the face outright, then name it on the switch.
if (document.fonts) {
  document.fonts
    .load('1em "techmatch CJK"', "中文")
    .then(() => {
      document.getElementById("language").style.fontFamily = '"techmatch CJK", system-ui, sans-serif';
      // Text drawn before the face loaded can keep its boxes too: draw everything on screen again.
      renderAll();
    })
    .catch(() => {});
}

let language = localStorage.getItem("techmatch.language") || (navigator.language.startsWith("zh") ? "zh" : "en");
const t = (key, ...args) => {
  const value = TEXTS[language][key] ?? TEXTS.en[key] ?? key;
  return typeof value === "function" ? value(...args) : value;
};
const valueText = (value) => (VALUE_TEXTS[language] && VALUE_TEXTS[language][value]) || value;
const $ = (id) => document.getElementById(id);

// What is on screen, kept so that a language switch can draw it again.
const state = {
  view: "search",
  search: null, // {text, direction, filters, n, weak}
  answer: null, // the last match answer of the search
  status: null, // {key, args, error}
  detail: null, // {kind, id, record, answer, error, weak}
  vocabularies: null,
};
const answers = new Map(); // request (JSON) -> answer, so that back/forward need not ask again

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
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

const bodyField = (record) => ("abstract" in record || record.kind === "projects" ? "abstract" : "description");
const owner = (record) => record.institution || record.enterprise || "";
// A calibrated likelihood is never certain: the badge says at most 99%.
const percent = (match) => Math.min(99, Math.round(100 * (match.strength ?? 0)));
const percentText = (match) => (percent(match) < 1 ? "<1%" : `${percent(match)}%`);

function fieldsHtml(fields, explanation, side) {
  return Object.entries(fields)
    .map(([field, text]) => `<div class="body" data-field="${field}">${highlight(text || "", explanation ? spansFor(explanation, side, field) : [])}</div>`)
    .join("");
}

function badgeHtml(match) {
  const band = match.band || "weak";
  return `<span class="badge band-${band}" data-band="${band}" title="${escapeHtml(t("strengthHelp"))}">`
    + `<span class="band-word">${t(band)}</span> <span class="band-percent">${percentText(match)}</span></span>`;
}

// The facts a card shows beside the owner: TRL, IP status, region, deadline, budget, where the record has them.
function factsHtml(record) {
  const facts = [];
  if (record.trl) facts.push(`<span class="fact" data-fact="trl">${t("trl")} ${escapeHtml(record.trl)}</span>`);
  ["ip_status", "industry", "region", "deadline", "budget"].forEach((name) => {
    if (record[name] !== undefined && record[name] !== null && record[name] !== "") {
      facts.push(`<span class="fact" data-fact="${name}">${t(`f_${name}`)}: ${escapeHtml(valueText(String(record[name])))}</span>`);
    }
  });
  return facts.join("");
}

function renderMatch(match, queryFields, open) {
  const item = document.createElement("li");
  item.className = `match band-${match.band || "weak"}`;
  item.dataset.id = match.id;
  item.dataset.kind = match.kind;
  const kind = match.kind;
  const explanation = match.explanation;
  const chips = explanation
    ? [
        ...explanation.shared_terms.map((term) => `<li class="shared" title="${escapeHtml(t("shared"))}">${escapeHtml(term.term)}</li>`),
        ...explanation.related_terms.map((pair) => `<li class="related" title="${escapeHtml(t("related"))}">${escapeHtml(pair.query_term)} ~ ${escapeHtml(pair.match_term)}</li>`),
      ].join("")
    : "";
  const matchFields = { title: match.title, [bodyField(match)]: match[bodyField(match)] };
  item.innerHTML = `
    <div class="match-head">
      <h3><span class="rank">${match.rank}.</span> <a href="#/${kind}/${encodeURIComponent(match.id)}">${escapeHtml(match.title)}</a></h3>
      ${badgeHtml(match)}
    </div>
    <div class="meta"><span class="owner">${escapeHtml(owner(match))}</span>${factsHtml(match)}</div>
    ${explanation ? `<p class="summary">${escapeHtml(explanation.summary)}</p><ul class="terms">${chips}</ul>` : ""}
    ${explanation ? `<details class="why"${open ? " open" : ""}><summary>${t("why")}</summary>
      <div class="texts">
        <div class="query-text"><h4>${escapeHtml(queryFields.label)}</h4>${fieldsHtml(queryFields.fields, explanation, "query")}</div>
        <div class="match-text"><h4>${t("theMatch")}</h4>${fieldsHtml(matchFields, explanation, "match")}</div>
      </div></details>` : ""}
    <div class="card-actions"><button type="button" class="secondary request-intro" data-kind="${kind}" data-id="${escapeHtml(match.id)}">${t("requestIntro")}</button></div>`;
  return item;
}

// The matches of an answer, weak ones behind a button; returns how many weak ones there are.
function renderResults(list, answer, queryFields, showWeak, weakButton) {
  list.innerHTML = "";
  const good = answer.matches.filter((m) => m.band !== "weak");
  const weak = answer.matches.filter((m) => m.band === "weak");
  if (answer.no_good_match && answer.matches.length) {
    const notice = document.createElement("li");
    notice.className = "notice no-good-match";
    notice.textContent = t("noGood");
    list.appendChild(notice);
  }
  good.forEach((match, index) => list.appendChild(renderMatch(match, queryFields, index === 0)));
  if (weak.length && showWeak) {
    const line = document.createElement("li");
    line.className = "weak-line";
    line.textContent = t("weakLine");
    list.appendChild(line);
    weak.forEach((match, index) => list.appendChild(renderMatch(match, queryFields, !good.length && index === 0)));
  }
  weakButton.hidden = weak.length === 0;
  weakButton.textContent = showWeak ? t("hideWeak") : t("showWeak", weak.length);
  weakButton.setAttribute("aria-expanded", String(Boolean(showWeak)));
  return weak.length;
}

async function api(path, options) {
  const response = await fetch(`/api/v1${path}`, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error ? body.error.message : response.statusText);
    error.status = response.status;
    error.code = body.error && body.error.code;
    error.details = (body.error && body.error.details) || {};
    throw error;
  }
  return body;
}

// -- the search in the URL ---------------------------------------------------------------------

function searchFromHash(hash) {
  const query = hash.replace(/^#\/?\??/, "");
  const params = new URLSearchParams(query);
  if (!params.get("q")) return null;
  const direction = params.get("dir") === "project_to_needs" ? "project_to_needs" : "need_to_projects";
  const names = direction === "need_to_projects" ? PROJECT_FILTERS : NEED_FILTERS;
  const filters = {};
  names.forEach((name) => {
    const value = params.get(name);
    if (value) filters[name] = name.startsWith("trl") ? Number(value) : value;
  });
  const n = Math.min(MAX_TOP_K, Math.max(1, Number(params.get("n")) || PAGE));
  return { text: params.get("q"), direction, filters, n, weak: params.get("weak") === "1" };
}

function hashOf(search) {
  const params = new URLSearchParams();
  params.set("q", search.text);
  if (search.direction !== "need_to_projects") params.set("dir", search.direction);
  Object.entries(search.filters).forEach(([name, value]) => params.set(name, String(value)));
  if (search.n !== PAGE) params.set("n", String(search.n));
  if (search.weak) params.set("weak", "1");
  return `#/?${params.toString()}`;
}

function filtersFromForm(form, direction) {
  const kind = direction === "need_to_projects" ? "projects" : "needs";
  const filters = {};
  (kind === "projects" ? PROJECT_FILTERS : NEED_FILTERS).forEach((name) => {
    const value = form.elements[FORM_NAME[kind][name] || name].value.trim();
    if (value) filters[name] = name.startsWith("trl") ? Number(value) : value;
  });
  return filters;
}

function fillForm(search) {
  const form = $("search");
  form.elements.text.value = search.text;
  form.querySelector(`input[name=direction][value=${search.direction}]`).checked = true;
  const kind = search.direction === "need_to_projects" ? "projects" : "needs";
  form.querySelectorAll("select, input[type=date]").forEach((field) => { field.value = ""; });
  Object.entries(search.filters).forEach(([name, value]) => {
    const select = form.elements[FORM_NAME[kind][name] || name];
    if (!select) return;
    if (select.options && ![...select.options].some((option) => option.value === String(value))) {
      select.appendChild(new Option(String(value), String(value))); // a shared link's value the catalogue lost
    }
    select.value = String(value);
  });
  directionChanged();
}

// -- filters as drop-downs from the catalogue's vocabularies ---------------------------------------

function renderFilterOptions() {
  document.querySelectorAll("select[data-vocabulary]").forEach((select) => {
    const [kind, name] = select.dataset.vocabulary.split(".");
    const chosen = select.value;
    const values = (state.vocabularies && state.vocabularies[kind][name]) || [];
    select.innerHTML = "";
    select.appendChild(new Option(t("any"), ""));
    values.forEach((item) => {
      const shown = valueText(item.value);
      const label = shown === item.value ? `${item.value} (${item.count})` : `${shown} · ${item.value} (${item.count})`;
      select.appendChild(new Option(label, item.value));
    });
    if (chosen && ![...select.options].some((option) => option.value === chosen)) select.appendChild(new Option(chosen, chosen));
    select.value = chosen;
  });
  document.querySelectorAll("select[data-range=trl]").forEach((select) => {
    const chosen = select.value;
    const [low, high] = (state.vocabularies && state.vocabularies.trl_range) || [1, 9];
    select.innerHTML = "";
    select.appendChild(new Option(t("any"), ""));
    for (let level = low; level <= high; level += 1) select.appendChild(new Option(String(level), String(level)));
    select.value = chosen;
  });
  countFilters();
}

function countFilters() {
  const form = $("search");
  const active = Object.keys(filtersFromForm(form, form.elements.direction.value)).length;
  document.querySelector("#filters summary").textContent = active ? t("filtersActive", active) : t("filters");
}

async function loadVocabularies() {
  try {
    state.vocabularies = await api("/vocabularies");
  } catch (error) {
    state.vocabularies = null; // the drop-downs offer "any" only; searching still works
  }
  renderFilterOptions();
  if (state.search) fillForm(state.search);
}

// -- rendering what is on screen ----------------------------------------------------------------

function renderStatus() {
  const status = $("status");
  const current = state.status;
  status.className = current && current.error ? "error" : "";
  status.textContent = !current ? "" : current.error ? current.error : t(current.key, ...(current.args || []));
}

function renderSearch() {
  renderStatus();
  const answer = state.answer;
  const tools = $("result-tools");
  if (!answer || !state.search) {
    $("results").innerHTML = "";
    tools.hidden = true;
    $("more").hidden = true;
    $("show-weak").hidden = true;
    return;
  }
  tools.hidden = answer.matches.length === 0;
  renderResults($("results"), answer, { label: t("yourText"), fields: { text: state.search.text } }, state.search.weak, $("show-weak"));
  $("more").hidden = !(answer.count >= state.search.n && state.search.n < MAX_TOP_K);
}

function recordValueHtml(name, value) {
  if (value === null || value === undefined || value === "") return `<span class="muted">${t("noValue")}</span>`;
  if (Array.isArray(value)) return value.map((item) => `<span class="chip">${escapeHtml(valueText(String(item)))}</span>`).join(" ");
  if (name === "url") {
    const safe = /^https?:\/\//i.test(String(value));
    return safe ? `<a href="${escapeHtml(value)}" rel="noopener noreferrer" target="_blank">${escapeHtml(value)}</a>` : escapeHtml(value);
  }
  if (name === "language") return escapeHtml(t(`lang_${value}`) === `lang_${value}` ? value : t(`lang_${value}`));
  if (typeof value === "object") return `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
  return escapeHtml(valueText(String(value)));
}

const DETAIL_ORDER = [
  "id", "institution", "enterprise", "contact", "fields", "industry", "keywords", "trl", "ip_status", "region",
  "budget", "deadline", "language", "url", "updated",
];

function renderDetail() {
  const view = state.detail;
  const detail = $("detail");
  const list = $("detail-results");
  if (!view) return;
  if (view.error) {
    detail.innerHTML = `<p class="error">${escapeHtml(view.error)}</p>`;
    list.innerHTML = "";
    $("detail-show-weak").hidden = true;
    return;
  }
  if (!view.record) {
    detail.textContent = t("loading");
    list.innerHTML = "";
    return;
  }
  const record = view.record;
  const body = bodyField({ ...record, kind: view.kind });
  const known = new Set([...DETAIL_ORDER, "title", "abstract", "description", "metadata"]);
  const rows = DETAIL_ORDER.concat(Object.keys(record).filter((name) => !known.has(name))).filter((name) => name in record);
  const label = (name) => (`f_${name}` in TEXTS.en ? t(`f_${name}`) : name);
  const fieldRows = rows
    .map((name) => `<div class="field-row" data-field="${escapeHtml(name)}"><dt>${escapeHtml(label(name))}</dt><dd>${recordValueHtml(name, record[name])}</dd></div>`)
    .join("");
  const metadata = record.metadata && typeof record.metadata === "object" ? Object.entries(record.metadata) : [];
  const metadataRows = metadata
    .map(([key, value]) => `<div class="field-row" data-field="metadata.${escapeHtml(key)}"><dt>${escapeHtml(key)}</dt><dd>${recordValueHtml(key, value)}</dd></div>`)
    .join("");
  detail.innerHTML = `
    <p class="kind-label">${t(`kind_${view.kind}`)}</p>
    <h2>${escapeHtml(record.title)}</h2>
    <div class="meta"><span class="owner">${escapeHtml(owner(record))}</span></div>
    <h3 class="field-heading">${t(`f_${body}`)}</h3>
    <p class="body record-body">${escapeHtml(record[body] || "")}</p>
    <dl class="fields" id="record-fields">${fieldRows}</dl>
    ${metadataRows ? `<h3 class="field-heading">${t("f_metadata")}</h3><dl class="fields" id="record-metadata">${metadataRows}</dl>` : ""}
    <div class="card-actions"><button type="button" id="detail-request" class="request-intro" data-kind="${view.kind}" data-id="${escapeHtml(record.id)}">${t("requestIntro")}</button></div>`;
  if (view.answer) {
    renderResults(list, view.answer, { label: t("thisRecord"), fields: { title: record.title, [body]: record[body] } }, view.weak, $("detail-show-weak"));
  } else {
    list.innerHTML = `<li class="loading">${t("loading")}</li>`;
  }
}

function applyLanguage() {
  document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((node) => { node.placeholder = t(node.dataset.i18nPlaceholder); });
  $("legend").setAttribute("aria-label", t("legend"));
  const switcher = $("language");
  switcher.textContent = t("language");
  switcher.lang = language === "zh" ? "en" : "zh-CN"; // the switch names the other language, in it
}

function renderAll() {
  applyLanguage();
  renderFilterOptions();
  if (state.view === "search") renderSearch();
  else renderDetail();
  renderIntroDialog();
}

// -- running a search and showing a record ---------------------------------------------------------

async function runSearch(search) {
  state.search = search;
  const request = { text: search.text, direction: search.direction, top_k: search.n, filters: search.filters };
  const key = JSON.stringify(request);
  if (answers.has(key)) {
    state.answer = answers.get(key);
  } else {
    state.status = { key: "searching" };
    renderSearch();
    try {
      const answer = await api("/match", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request) });
      answers.set(key, answer);
      if (state.search !== search) return; // a newer search took over
      state.answer = answer;
    } catch (error) {
      if (state.search !== search) return;
      state.answer = null;
      state.status = { error: error.message };
      renderSearch();
      return;
    }
  }
  const answer = state.answer;
  const good = answer.matches.filter((m) => m.band !== "weak").length;
  state.status = !answer.count
    ? { key: "none" }
    : good < answer.count && !search.weak
      ? { key: "foundShown", args: [good, answer.count, answer.candidates] }
      : { key: "found", args: [answer.count, answer.candidates] };
  renderSearch();
  $("search-view").dataset.ready = "true";
}

async function showDetail(kind, id) {
  const view = { kind, id, record: null, answer: null, error: null, weak: false };
  state.detail = view;
  renderDetail();
  try {
    view.record = await api(`/${kind}/${encodeURIComponent(id)}`);
    if (state.detail !== view) return;
    renderDetail();
    view.answer = await api(`/${kind}/${encodeURIComponent(id)}/matches?top_k=${PAGE}`);
  } catch (error) {
    view.error = error.status === 404 ? t("notFound") : error.message;
  }
  if (state.detail === view) renderDetail();
}

function route() {
  const match = location.hash.match(/^#\/(projects|needs)\/([^?]+)$/);
  if (match) {
    state.view = "detail";
    $("search-view").hidden = true;
    $("detail-view").hidden = false;
    $("back").href = state.search ? hashOf(state.search) : "#/";
    showDetail(match[1], decodeURIComponent(match[2]));
    window.scrollTo(0, 0);
    return;
  }
  state.view = "search";
  $("search-view").hidden = false;
  $("detail-view").hidden = true;
  const search = searchFromHash(location.hash);
  if (search) {
    fillForm(search);
    runSearch(search);
  } else {
    state.search = null;
    state.answer = null;
    state.status = null;
    renderSearch();
  }
}

function go(search) {
  const hash = hashOf(search);
  if (location.hash === hash) route();
  else location.hash = hash; // a new history entry: back returns to the search before
}

function directionChanged() {
  const toProjects = document.querySelector("input[name=direction]:checked").value === "need_to_projects";
  document.querySelectorAll(".projects-only").forEach((node) => { node.hidden = !toProjects; });
  document.querySelectorAll(".needs-only").forEach((node) => { node.hidden = toProjects; });
  countFilters();
}

// -- export -------------------------------------------------------------------------------------

function csvCell(value) {
  const text = value === null || value === undefined ? "" : Array.isArray(value) ? value.join("; ") : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function exportList() {
  if (!state.answer) return;
  const shown = state.answer.matches.filter((m) => state.search.weak || m.band !== "weak");
  const rows = shown.length ? shown : state.answer.matches;
  const columns = ["rank", "id", "kind", "title", "institution", "enterprise", "band", "strength", "trl", "fields", "industry", "region", "ip_status", "deadline", "url", "summary"];
  const header = columns.map((name) => t(name === "strength" ? "f_strength" : `f_${name}`));
  const lines = [header.map(csvCell).join(",")];
  rows.forEach((match) => {
    lines.push(columns.map((name) => {
      if (name === "band") return csvCell(t(match.band || "weak"));
      if (name === "strength") return csvCell(percent(match));
      if (name === "kind") return csvCell(t(`kind_${match.kind}`));
      if (name === "summary") return csvCell(match.explanation ? match.explanation.summary : "");
      return csvCell(match[name]);
    }).join(","));
  });
  // A byte-order mark, so that a spreadsheet reads the Chinese as UTF-8.
  const blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `techmatch-${state.search.direction === "need_to_projects" ? "projects" : "needs"}.csv`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// -- requesting an introduction -----------------------------------------------------------------

const intro = { kind: null, id: null, title: "", token: null, status: null, sent: false };

function renderIntroDialog() {
  if (!intro.id) return;
  $("intro-record").textContent = t("introTo", intro.title, intro.id);
  const status = $("intro-status");
  status.className = intro.status && intro.status.error ? "error" : intro.sent ? "success" : "";
  status.textContent = !intro.status ? "" : intro.status.text || t(intro.status.key, ...(intro.status.args || []));
  $("intro-send").hidden = intro.sent;
  $("intro-cancel").textContent = intro.sent ? t("close") : t("cancel");
}

function titleOf(kind, id) {
  const pools = [state.answer, state.detail && state.detail.answer].filter(Boolean).flatMap((answer) => answer.matches);
  const found = pools.find((m) => m.kind === kind && m.id === id);
  if (found) return found.title;
  return state.detail && state.detail.record && state.detail.record.id === id ? state.detail.record.title : id;
}

async function openIntro(kind, id) {
  Object.assign(intro, { kind, id, title: titleOf(kind, id), token: null, status: null, sent: false });
  const form = $("intro-form");
  form.querySelectorAll(".invalid").forEach((node) => node.classList.remove("invalid"));
  form.elements.message.value = "";
  form.elements.website.value = "";
  renderIntroDialog();
  $("intro-dialog").showModal();
  form.elements.name.focus();
  try {
    intro.token = (await api("/introduction-requests/token")).token;
  } catch (error) {
    intro.status = { error: true, text: error.message };
    renderIntroDialog();
  }
}

function markInvalid(name) {
  const field = $("intro-form").elements[name];
  if (field && field.classList) { field.classList.add("invalid"); field.focus(); }
}

async function sendIntro(event) {
  event.preventDefault();
  const form = $("intro-form");
  form.querySelectorAll(".invalid").forEach((node) => node.classList.remove("invalid"));
  const value = (name) => form.elements[name].value.trim();
  if (!value("name")) { intro.status = { error: true, key: "needName" }; renderIntroDialog(); markInvalid("name"); return; }
  if (!value("contact")) { intro.status = { error: true, key: "needContact" }; renderIntroDialog(); markInvalid("contact"); return; }
  intro.status = { key: "sending" };
  renderIntroDialog();
  const body = {
    kind: intro.kind, record_id: intro.id, name: value("name"), organisation: value("organisation"),
    contact: value("contact"), message: value("message"), language, token: intro.token || "", website: form.elements.website.value,
  };
  try {
    await api("/introduction-requests", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    intro.sent = true;
    intro.status = { key: "introSent" };
  } catch (error) {
    const parameter = error.details.parameter;
    if (error.code === "too_soon") intro.status = { error: true, key: "tooSoon", args: [error.details.retry_after] };
    else if (error.code === "duplicate") intro.status = { error: true, key: "duplicate" };
    else if (error.status === 429) intro.status = { error: true, key: "rateLimited" };
    else if (parameter === "contact") intro.status = { error: true, key: "badContact" };
    else intro.status = { error: true, text: error.message };
    if (parameter) markInvalid(parameter);
    if (error.code === "invalid_token") openIntroToken();
  }
  renderIntroDialog();
}

async function openIntroToken() {
  try { intro.token = (await api("/introduction-requests/token")).token; } catch (error) { /* the message already says why */ }
}

// -- wiring -------------------------------------------------------------------------------------

$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  const direction = form.elements.direction.value;
  go({ text: form.elements.text.value, direction, filters: filtersFromForm(form, direction), n: PAGE, weak: false });
});
$("search").addEventListener("change", (event) => { if (event.target.closest(".filter-grid")) countFilters(); });
document.querySelectorAll("input[name=direction]").forEach((node) => node.addEventListener("change", directionChanged));
$("clear-filters").addEventListener("click", () => {
  $("search").querySelectorAll("select, input[type=date]").forEach((field) => { field.value = ""; });
  countFilters();
});
$("more").addEventListener("click", () => {
  if (state.search) go({ ...state.search, n: Math.min(MAX_TOP_K, state.search.n + PAGE) });
});
$("show-weak").addEventListener("click", () => {
  if (state.search) history.replaceState(null, "", hashOf({ ...state.search, weak: !state.search.weak }));
  if (state.search) runSearch({ ...state.search, weak: !state.search.weak });
});
$("detail-show-weak").addEventListener("click", () => {
  if (state.detail) { state.detail.weak = !state.detail.weak; renderDetail(); }
});
$("export").addEventListener("click", exportList);
$("copy-link").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(location.href);
    state.status = { key: "linkCopied" };
  } catch (error) {
    state.status = { error: location.href };
  }
  renderStatus();
});
document.body.addEventListener("click", (event) => {
  const button = event.target.closest(".request-intro");
  if (button) openIntro(button.dataset.kind, button.dataset.id);
});
$("intro-form").addEventListener("submit", sendIntro);
$("intro-cancel").addEventListener("click", () => $("intro-dialog").close());
$("language").addEventListener("click", () => {
  language = language === "en" ? "zh" : "en";
  localStorage.setItem("techmatch.language", language);
  renderAll();
});
window.addEventListener("hashchange", route);
applyLanguage();
renderFilterOptions();
loadVocabularies();
route();
