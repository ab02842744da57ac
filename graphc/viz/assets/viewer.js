// The graphc graph viewer: pan and zoom an SVG laid out by Graphviz, show a box's
// details on click, switch levels of detail to open or close frames, and replay recorded
// gradient norms with a slider. Everything it needs is in the page (no network).
"use strict";

const DATA = JSON.parse(document.getElementById("graphc-data").textContent);
const stage = document.getElementById("stage");
const canvas = document.getElementById("canvas");
const details = document.getElementById("details");
const view = { picture: null, scale: 1, x: 0, y: 0 };

function titleOf(group) {
  const t = group.querySelector(":scope > title");
  return t ? t.textContent : "";
}

function applyTransform() {
  stage.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
}

function svgSize() {
  const svg = stage.querySelector("svg");
  const box = svg.viewBox.baseVal;
  return { w: box && box.width ? box.width : svg.clientWidth,
           h: box && box.height ? box.height : svg.clientHeight };
}

function fit() {
  const size = svgSize();
  const scale = Math.min(canvas.clientWidth / size.w, canvas.clientHeight / size.h, 1.5);
  view.scale = scale;
  view.x = (canvas.clientWidth - size.w * scale) / 2;
  view.y = (canvas.clientHeight - size.h * scale) / 2;
  applyTransform();
}

function centreOn(element) {
  const target = element.getBoundingClientRect();
  const area = canvas.getBoundingClientRect();
  view.x += area.left + area.width / 2 - (target.left + target.width / 2);
  view.y += area.top + area.height / 2 - (target.top + target.height / 2);
  applyTransform();
}

function show(index, focusScope) {
  const picture = DATA.pictures[index];
  view.picture = index;
  stage.innerHTML = picture.svg;
  const svg = stage.querySelector("svg");
  const size = svgSize();
  svg.setAttribute("width", size.w);
  svg.setAttribute("height", size.h);
  document.querySelectorAll("#tabs button").forEach((b, i) =>
    b.classList.toggle("active", i === index));
  document.getElementById("collapse").hidden = coarser(index) === null;
  setupSlider(picture);
  fit();
  if (focusScope) {
    const frame = frameElement(picture, focusScope);
    if (frame) {
      view.scale = Math.max(view.scale, 0.8);
      applyTransform();
      centreOn(frame);
      frame.classList.add("selected");
    }
  }
}

function frameElement(picture, scope) {
  for (const group of stage.querySelectorAll("g.cluster")) {
    if (picture.frames[titleOf(group)] === scope) return group;
  }
  return null;
}

function levels() {
  return DATA.pictures.map((p, i) => i).filter(i => !DATA.pictures[i].flow);
}

function finer(index) {
  const list = levels();
  const at = list.indexOf(index);
  return at >= 0 && at + 1 < list.length ? list[at + 1] : null;
}

function coarser(index) {
  const list = levels();
  const at = list.indexOf(index);
  return at > 0 ? list[at - 1] : null;
}

function row(key, value) {
  const tr = document.createElement("tr");
  const th = document.createElement("th");
  const td = document.createElement("td");
  th.textContent = key;
  td.textContent = value;
  tr.append(th, td);
  return tr;
}

function describe(info, extraRows) {
  details.innerHTML = "";
  const h = document.createElement("h2");
  h.textContent = info.title;
  const table = document.createElement("table");
  for (const [k, value] of info.rows.concat(extraRows || [])) table.append(row(k, value));
  details.append(h, table);
  if (info.members) {
    const list = document.createElement("p");
    list.className = "members";
    list.textContent = info.members.join(", ") + (info.more ? ` and ${info.more} more` : "");
    details.append(list);
  }
  if (info.kind === "scope" && finer(view.picture) !== null) {
    const open = document.createElement("button");
    open.id = "open";
    open.textContent = "open this frame";
    open.onclick = () => show(finer(view.picture), info.scope);
    details.append(open);
  }
}

function flowRows(key) {
  const picture = DATA.pictures[view.picture];
  if (!picture.flow) return [];
  const tensor = picture.flow.tensors.find(t => t.node === key || t.grad === key);
  if (!tensor) return [];
  return picture.flow.steps.map((step, i) =>
    [`step ${step}`, tensor.lines[i].join(" · ")]);
}

function onClick(event) {
  const node = event.target.closest("g.node");
  const picture = DATA.pictures[view.picture];
  stage.querySelectorAll(".selected").forEach(e => e.classList.remove("selected"));
  if (node) {
    const key = titleOf(node);
    const info = picture.items[key];
    if (!info) return;
    node.classList.add("selected");
    describe(info, flowRows(key));
    return;
  }
  const frame = event.target.closest("g.cluster");
  if (frame && picture.frames[titleOf(frame)] !== undefined) {
    frame.classList.add("selected");
    describe({ title: picture.frames[titleOf(frame)] + "/", kind: "frame",
               rows: [["frame", "a name scope drawn open"]] });
  }
}

// -- pan and zoom ---------------------------------------------------------------------
let drag = null;
canvas.addEventListener("mousedown", e => {
  drag = { x: e.clientX, y: e.clientY, moved: false };
});
window.addEventListener("mousemove", e => {
  if (!drag) return;
  const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
  if (drag.moved) {
    view.x += dx; view.y += dy;
    drag.x = e.clientX; drag.y = e.clientY;
    applyTransform();
  }
});
window.addEventListener("mouseup", e => {
  if (drag && !drag.moved) onClick(e);
  drag = null;
});
canvas.addEventListener("wheel", e => {
  e.preventDefault();
  const area = canvas.getBoundingClientRect();
  const px = e.clientX - area.left, py = e.clientY - area.top;
  const factor = Math.exp(-e.deltaY * 0.0015);
  const scale = Math.min(8, Math.max(0.05, view.scale * factor));
  view.x = px - (px - view.x) * (scale / view.scale);
  view.y = py - (py - view.y) * (scale / view.scale);
  view.scale = scale;
  applyTransform();
}, { passive: false });

// -- gradient flow over the recorded steps ----------------------------------------------
function setupSlider(picture) {
  const box = document.getElementById("slider-box");
  const slider = document.getElementById("slider");
  box.hidden = !picture.flow;
  if (!picture.flow) return;
  slider.max = picture.flow.steps.length - 1;
  slider.value = slider.max;
  slider.oninput = () => paintStep(picture, Number(slider.value));
  paintStep(picture, Number(slider.value));
}

function groupTitled(selector, title) {
  for (const group of stage.querySelectorAll(selector)) {
    if (titleOf(group) === title) return group;
  }
  return null;
}

function paintStep(picture, i) {
  const flow = picture.flow;
  document.getElementById("step").textContent =
    `${flow.steps[i]} (${i + 1} of ${flow.steps.length})` +
    (flow.loss[i] === null ? "" : `, loss ${Number(flow.loss[i]).toPrecision(4)}`);
  const loss = groupTitled("g.node", flow.loss_node);
  if (loss && flow.loss[i] !== null) {
    const texts = loss.querySelectorAll("text");
    texts[texts.length - 1].textContent = `= ${Number(flow.loss[i]).toPrecision(4)}`;
  }
  for (const t of flow.tensors) {
    const colour = t.colour[i];
    const node = groupTitled("g.node", t.node);
    if (node) {
      node.querySelectorAll("polygon, path").forEach(s => s.setAttribute("stroke", colour));
      const texts = node.querySelectorAll("text");
      const lines = t.lines[i];
      for (let k = 2; k < texts.length; k++) texts[k].textContent = lines[k - 2] || "";
    }
    const grad = groupTitled("g.node", t.grad);
    if (grad) {
      const texts = grad.querySelectorAll("text");
      if (texts.length) texts[texts.length - 1].textContent = t.lines[i][0];
    }
    const edge = groupTitled("g.edge", `${t.node}->${t.grad}`);
    if (edge) {
      edge.querySelectorAll("path").forEach(p => p.setAttribute("stroke", colour));
      edge.querySelectorAll("polygon").forEach(p => {
        p.setAttribute("stroke", colour); p.setAttribute("fill", colour);
      });
      edge.querySelectorAll("text").forEach(x => {
        x.textContent = t.edge[i]; x.setAttribute("fill", colour);
      });
    }
  }
}

// -- start ----------------------------------------------------------------------------------
DATA.pictures.forEach((picture, i) => {
  const button = document.createElement("button");
  button.textContent = picture.name;
  button.onclick = () => show(i);
  document.getElementById("tabs").append(button);
});
document.getElementById("fit").onclick = fit;
document.getElementById("collapse").onclick = () => {
  const index = coarser(view.picture);
  if (index !== null) show(index);
};
window.addEventListener("resize", fit);
const start = DATA.pictures.findIndex(p => p.name === "default");
show(start >= 0 ? start : 0);
