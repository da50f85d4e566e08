// streamseg's page: drop files, each becomes a job (POST /api/jobs) whose progress is polled; a photo shows
// before/after with a slider, a video its first composited frame, and each its download link.
// No framework and no build step: served as it is from the package.
"use strict";

const TOKEN_KEY = "streamseg-token";
const POLL_MS = 400;

// a token given as /?token=... is kept for this tab and taken out of the address bar; it travels as a header
(function takeToken() {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
})();

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

function problem(body, fallback) {
  if (body && body.error) return body.error + (body.fix ? " (" + body.fix + ")" : "");
  return fallback;
}

async function getJson(path) {
  const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(problem(body, response.status + " " + response.statusText));
  return body;
}

async function blobUrl(path) {
  const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new Error(problem(body, response.status + " " + response.statusText));
  }
  return URL.createObjectURL(await response.blob());
}

function chosenOptions() {
  const form = document.getElementById("options");
  const fields = new FormData();
  const bg = form.elements.bg.value;
  if (bg === "colour") fields.append("bg", document.getElementById("bg-colour").value);
  else if (bg !== "image") fields.append("bg", bg);
  for (const name of ["fmt", "shadow", "vehicles", "plate"]) fields.append(name, form.elements[name].value);
  if (form.elements.edges.value) fields.append("edges", form.elements.edges.value);  // else: photos only
  for (const name of ["reflection", "fit", "refine", "smooth"]) fields.append(name, String(form.elements[name].checked));
  const size = form.elements.size.value.trim();
  if (size) fields.append("size", size);
  return fields;
}

function uploadFile(file, card) {
  const fields = chosenOptions();
  const backdrop = document.getElementById("bg-file");
  if (document.getElementById("bg").value === "image") {
    if (!backdrop.files.length) return Promise.reject(new Error("choose a backdrop image first"));
    fields.append("bg_file", backdrop.files[0]);
  }
  fields.append("file", file);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();  // for the upload's own progress, which fetch does not report
    xhr.open("POST", "/api/jobs");
    for (const [key, value] of Object.entries(authHeaders())) xhr.setRequestHeader(key, value);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) card.show("uploading", e.loaded / e.total);
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: use the status line */ }
      if (xhr.status === 202) resolve(body);
      else reject(new Error(problem(body, xhr.status + " " + xhr.statusText)));
    };
    xhr.onerror = () => reject(new Error("the upload did not reach the service (is it running?)"));
    xhr.send(fields);
  });
}

class Card {
  constructor(name) {
    const node = document.getElementById("job-card").content.firstElementChild.cloneNode(true);
    node.querySelector(".name").textContent = name;
    this.node = node;
    this.shown = {};
    document.getElementById("jobs").prepend(node);
  }

  show(state, fraction) {
    this.node.querySelector(".state").textContent = state;
    const bar = this.node.querySelector("progress");
    if (fraction === null || fraction === undefined) bar.removeAttribute("value");
    else bar.value = fraction;
  }

  fail(message) {
    this.node.classList.add("failed");
    this.node.dataset.status = "failed";
    this.show("failed: " + message, 0);
  }

  async follow(job) {
    this.node.dataset.job = job.id;
    for (;;) {
      this.render(job);
      if (job.status === "done" || job.status === "failed") return;
      await new Promise((r) => setTimeout(r, POLL_MS));
      try {
        job = await getJson(job.links.self);
      } catch (e) {
        this.fail(e.message);
        return;
      }
    }
  }

  render(job) {
    const p = job.progress || {};
    this.node.dataset.status = job.status;
    this.node.dataset.kind = job.kind;
    if (job.status === "queued") this.show("waiting for its turn", null);
    else if (job.status === "running") {
      if (p.inputs > 1) this.show(`running: ${p.inputs_done} of ${p.inputs} photos`, p.inputs_done / p.inputs);
      else if (p.total) this.show(`running: frame ${p.done} of ${p.total}`, p.done / p.total);
      else this.show("running", null);
    } else if (job.status === "failed") {
      this.fail((job.error && job.error.error) + (job.error && job.error.fix ? " (" + job.error.fix + ")" : ""));
    } else if (job.status === "done") {
      this.node.classList.add("done");
      const seconds = job.finished && job.started ? ` in ${(job.finished - job.started).toFixed(1)} s` : "";
      const failed = (job.records || []).filter((r) => r.status === "failed").length;
      this.show("done" + seconds + (failed ? `; ${failed} photo(s) failed` : ""), 1);
    }
    this.pictures(job);
    if (job.links.result && !this.shown.result) {
      this.shown.result = true;
      this.node.querySelector(".links").append(downloadLink(job.links.result, job.result_name));
    }
  }

  async pictures(job) {
    const view = this.node.querySelector(".view");
    const links = job.links;
    try {
      if (job.kind === "photo" && links.before && links.preview && job.status === "done" && !this.shown.compare) {
        this.shown.compare = true;
        view.replaceChildren(await compare(links.before, links.preview));
      } else if (job.kind === "video" && links.preview && !this.shown.preview) {
        this.shown.preview = true;
        const img = document.createElement("img");
        img.className = "preview checker";
        img.alt = "first composited frame";
        img.src = await blobUrl(links.preview);
        view.replaceChildren(img);
      }
    } catch (e) {
      view.textContent = "no preview: " + e.message;
    }
  }
}

async function compare(beforePath, afterPath) {
  const [before, after] = await Promise.all([blobUrl(beforePath), blobUrl(afterPath)]);
  const box = document.createElement("div");
  box.className = "compare";
  box.innerHTML = '<img class="after checker" alt="after"><img class="before" alt="before">' +
    '<input type="range" min="0" max="100" value="50" aria-label="before / after">';
  box.querySelector(".after").src = after;
  box.querySelector(".before").src = before;
  const slider = box.querySelector("input");
  slider.addEventListener("input", () => {
    box.querySelector(".before").style.clipPath = `inset(0 ${100 - slider.value}% 0 0)`;
  });
  return box;
}

function downloadLink(path, name) {
  const a = document.createElement("a");
  a.className = "download";
  a.href = path;
  a.download = name || "";
  a.textContent = "Download " + (name || "the result");
  a.addEventListener("click", async (e) => {
    if (!sessionStorage.getItem(TOKEN_KEY)) return;  // a plain link: the browser downloads it
    e.preventDefault();  // a link cannot carry the header: fetch it, then save the bytes
    try {
      const url = await blobUrl(path);
      const save = document.createElement("a");
      save.href = url;
      save.download = name || "";
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      a.textContent = "download failed: " + err.message;
    }
  });
  return a;
}

async function start(file) {
  const card = new Card(file.name);
  card.show("uploading", 0);
  let job;
  try {
    job = await uploadFile(file, card);
  } catch (e) {
    card.fail(e.message);
    return;
  }
  await card.follow(job);
}

function startAll(files) {
  for (const file of files) start(file);
}

function setUp() {
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    startAll(e.dataTransfer.files);
  });
  const chooser = document.getElementById("files");
  chooser.addEventListener("change", () => { startAll(chooser.files); chooser.value = ""; });
  const bg = document.getElementById("bg");
  bg.addEventListener("change", () => {
    document.getElementById("bg-colour").hidden = bg.value !== "colour";
    document.getElementById("bg-file").hidden = bg.value !== "image";
  });
  getJson("/api/info").then((info) => {
    document.getElementById("info").textContent =
      `Model ${info.model}; ${info.jobs} job(s) at a time; uploads up to ${info.max_upload_mb} MB; ` +
      `results kept ${info.keep_hours} h.`;
  }).catch((e) => { document.getElementById("info").textContent = "The service did not answer: " + e.message; });
  // jobs the service still holds (finished ones survive a restart), oldest first so the newest ends on top
  getJson("/api/jobs").then((jobs) => {
    for (const job of jobs.reverse()) new Card(job.name).follow(job);
  }).catch(() => {});
}

setUp();
