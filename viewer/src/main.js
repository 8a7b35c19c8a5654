// The clinicians' viewer: one study from the portal's DICOMweb (/dicomweb, the user's session),
// shown with Cornerstone3D. Window/level with presets, zoom and pan, frame scrolling, length
// measurement and a tags panel. The page (templates/imaging/viewer.html) holds the markup;
// this script only reads its data-* attributes and fills it in (no inline script or style).

import { Enums, RenderingEngine, init as coreInit } from "@cornerstonejs/core";
import { init as loaderInit, wadors } from "@cornerstonejs/dicom-image-loader";
import {
  Enums as ToolEnums,
  LengthTool,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  annotation,
  init as toolsInit,
} from "@cornerstonejs/tools";

import { PRESETS, filePresets, fromRange, toRange } from "./presets.js";
import { ProblemError, fetchStudy, seriesOf } from "./study.js";
import { loadNames, renderTags } from "./tags.js";

const ENGINE_ID = "qmc-engine";
const VIEWPORT_ID = "qmc-stack";
const TOOL_GROUP_ID = "qmc-tools";
const { MouseBindings } = ToolEnums;

const TOOLS = {
  WindowLevel: WindowLevelTool,
  Pan: PanTool,
  Zoom: ZoomTool,
  Length: LengthTool,
  StackScroll: StackScrollTool,
};
// the bindings each tool keeps whichever tool has the primary button (or one finger)
const FIXED_BINDINGS = {
  Pan: [{ mouseButton: MouseBindings.Auxiliary }, { numTouchPoints: 3 }],
  Zoom: [{ mouseButton: MouseBindings.Secondary }, { numTouchPoints: 2 }],
  StackScroll: [{ mouseButton: MouseBindings.Wheel }],
};

const PRIMARY = [{ mouseButton: MouseBindings.Primary }, { numTouchPoints: 1 }];

const $ = (id) => document.getElementById(id);

class Viewer {
  constructor(root) {
    this.root = root;
    this.base = root.dataset.dicomweb;
    this.study = root.dataset.study;
    this.element = $("viewer-viewport");
    this.series = [];
    this.current = null; // the series on screen
    this.filePresetList = [];
    this.tagsInstance = null;
  }

  status(text, state) {
    $("viewer-status").textContent = text;
    if (state) this.root.dataset.state = state;
  }

  async start() {
    this.status("Loading the study…", "loading");
    coreInit();
    loaderInit({ maxWebWorkers: Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2))) });
    toolsInit();
    let instances;
    try {
      instances = await fetchStudy(this.base, this.study);
    } catch (error) {
      const text = error instanceof ProblemError ? error.message : "The study could not be loaded.";
      this.status(text, "error");
      return;
    }
    this.series = seriesOf(instances, this.base, this.study);
    if (!this.series.length) {
      this.status("This study has no image you may see.", "error");
      return;
    }
    for (const s of this.series) {
      for (const f of s.frames) if (f.frame === 1) wadors.metaDataManager.add(f.imageId, f.instance);
    }
    this.engine = new RenderingEngine(ENGINE_ID);
    this.engine.enableElement({
      viewportId: VIEWPORT_ID,
      type: Enums.ViewportType.STACK,
      element: this.element,
      defaultOptions: { background: [0, 0, 0] },
    });
    this.viewport = this.engine.getViewport(VIEWPORT_ID);
    this.setUpTools();
    this.bindControls();
    this.renderSeriesList();
    const wanted = this.root.dataset.instance;
    const start = this.series.find((s) => s.frames.some((f) => f.sop === wanted)) ?? this.series[0];
    const index = Math.max(0, start.frames.findIndex((f) => f.sop === wanted));
    await this.showSeries(start, index);
    new ResizeObserver(() => this.engine.resize(true, true)).observe(this.element);
  }

  setUpTools() {
    for (const Tool of Object.values(TOOLS)) addTool(Tool);
    const group = ToolGroupManager.createToolGroup(TOOL_GROUP_ID);
    for (const Tool of Object.values(TOOLS)) group.addTool(Tool.toolName);
    group.addViewport(VIEWPORT_ID, ENGINE_ID);
    for (const [name, bindings] of Object.entries(FIXED_BINDINGS)) {
      group.setToolActive(TOOLS[name].toolName, { bindings });
    }
    this.group = group;
    this.selectTool("WindowLevel");
  }

  selectTool(name) {
    const previous = this.primaryTool;
    if (previous === name) return;
    // the tool loses the primary bindings and keeps its own (a measurement tool with none
    // left is passive: its measurements stay on screen and can still be moved)
    if (previous) this.group.setToolPassive(TOOLS[previous].toolName, { removeAllBindings: PRIMARY });
    this.group.setToolActive(TOOLS[name].toolName, { bindings: PRIMARY });
    this.primaryTool = name;
    for (const button of document.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === name));
    }
  }

  bindControls() {
    for (const button of document.querySelectorAll("[data-tool]")) {
      button.addEventListener("click", () => this.selectTool(button.dataset.tool));
    }
    $("viewer-prev").addEventListener("click", () => this.step(-1));
    $("viewer-next").addEventListener("click", () => this.step(1));
    $("viewer-frame").addEventListener("input", (e) => this.goTo(Number(e.target.value) - 1));
    $("viewer-zoom-in").addEventListener("click", () => this.zoom(1.25));
    $("viewer-zoom-out").addEventListener("click", () => this.zoom(0.8));
    $("viewer-reset").addEventListener("click", () => this.reset());
    $("viewer-clear").addEventListener("click", () => {
      annotation.state.removeAllAnnotations();
      this.viewport.render();
    });
    $("viewer-preset").addEventListener("change", (e) => this.applyPreset(e.target.value));
    for (const id of ["viewer-ww", "viewer-wc"]) {
      $(id).addEventListener("change", () => {
        const width = Number($("viewer-ww").value);
        const center = Number($("viewer-wc").value);
        if (Number.isFinite(width) && width >= 1 && Number.isFinite(center)) {
          $("viewer-preset").value = "custom";
          this.setWindow(width, center);
        }
      });
    }
    this.element.addEventListener("keydown", (e) => {
      const moves = { ArrowUp: -1, ArrowLeft: -1, ArrowDown: 1, ArrowRight: 1, PageUp: -10, PageDown: 10 };
      if (e.key in moves) this.step(moves[e.key]);
      else if (e.key === "Home") this.goTo(0);
      else if (e.key === "End") this.goTo(this.current.frames.length - 1);
      else return;
      e.preventDefault();
    });
    this.element.addEventListener(Enums.Events.STACK_NEW_IMAGE, () => this.onNewImage());
    this.element.addEventListener(Enums.Events.VOI_MODIFIED, () => this.showWindow());
    this.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      this.rendered = true;
      if (this.awaitingRender) {
        this.awaitingRender = false;
        this.status("", "ready");
      }
    });
    this.element.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, () => {
      this.status("A frame could not be loaded from the server.", "error");
    });
    const tags = $("viewer-tags");
    tags.addEventListener("toggle", async () => {
      if (!tags.open) return;
      await loadNames(this.root.dataset.tagNames);
      this.showTags(true);
    });
    $("viewer-tags-filter").addEventListener("input", () => this.showTags(true));
  }

  renderSeriesList() {
    const list = $("viewer-series");
    list.replaceChildren();
    for (const s of this.series) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "series-button";
      const number = s.number === undefined ? "" : ` ${s.number}`;
      const what = [s.modality, s.description].filter(Boolean).join(" · ");
      button.textContent = `Series${number}${what ? ` · ${what}` : ""} (${s.frames.length} image${s.frames.length === 1 ? "" : "s"})`;
      button.addEventListener("click", () => this.showSeries(s, 0));
      s.button = button;
      item.append(button);
      list.append(item);
    }
  }

  async showSeries(series, index) {
    this.current = series;
    for (const s of this.series) s.button.setAttribute("aria-pressed", String(s === series));
    const slider = $("viewer-frame");
    slider.max = String(series.frames.length);
    slider.disabled = series.frames.length < 2;
    this.status("Loading images…", "loading");
    this.rendered = false;
    try {
      await this.viewport.setStack(series.frames.map((f) => f.imageId), index);
    } catch {
      this.status("The images could not be loaded from the server.", "error");
      return;
    }
    this.filePresetList = filePresets(series.frames[index].instance);
    this.fillPresets();
    this.onNewImage();
    this.showWindow();
    // "ready" once this series' first image is on screen
    if (this.rendered) this.status("", "ready");
    else this.awaitingRender = true;
    this.viewport.render();
  }

  fillPresets() {
    const select = $("viewer-preset");
    const options = [
      { id: "default", label: "As the image says" },
      ...this.filePresetList,
      ...PRESETS,
      { id: "custom", label: "Custom" },
    ];
    select.replaceChildren(
      ...options.map((p) => {
        const option = document.createElement("option");
        option.value = p.id;
        option.textContent = p.width ? `${p.label} (W ${p.width} / L ${p.center})` : p.label;
        return option;
      }),
    );
    select.value = "default";
  }

  applyPreset(id) {
    if (id === "default") {
      this.viewport.resetProperties();
      this.viewport.render();
      this.showWindow();
      return;
    }
    const preset = [...this.filePresetList, ...PRESETS].find((p) => p.id === id);
    if (preset) this.setWindow(preset.width, preset.center);
  }

  setWindow(width, center) {
    this.viewport.setProperties({ voiRange: toRange(width, center) });
    this.viewport.render();
    this.showWindow();
  }

  showWindow() {
    const range = this.viewport?.getProperties()?.voiRange;
    if (!range) return;
    const { width, center } = fromRange(range);
    $("viewer-ww").value = String(Math.round(width));
    $("viewer-wc").value = String(Math.round(center));
    const select = $("viewer-preset");
    const chosen = [...this.filePresetList, ...PRESETS].find((p) => p.id === select.value);
    if (chosen && (Math.round(chosen.width) !== Math.round(width) || Math.round(chosen.center) !== Math.round(center))) {
      select.value = "custom";
    }
  }

  step(delta) {
    this.goTo(this.viewport.getCurrentImageIdIndex() + delta);
  }

  goTo(index) {
    const last = this.current.frames.length - 1;
    const target = Math.min(last, Math.max(0, index));
    if (target !== this.viewport.getCurrentImageIdIndex()) this.viewport.setImageIdIndex(target);
  }

  zoom(factor) {
    this.viewport.setZoom(this.viewport.getZoom() * factor);
    this.viewport.render();
  }

  reset() {
    this.viewport.resetCamera();
    this.viewport.resetProperties();
    this.viewport.render();
    $("viewer-preset").value = "default";
    this.showWindow();
  }

  onNewImage() {
    const index = this.viewport.getCurrentImageIdIndex();
    const frame = this.current.frames[index];
    const total = this.current.frames.length;
    $("viewer-frame").value = String(index + 1);
    const where = frame.count > 1 ? ` (frame ${frame.frame} of ${frame.count} of its instance)` : "";
    $("viewer-frame-label").textContent = `Image ${index + 1} / ${total}${where}`;
    this.root.dataset.image = String(index + 1);
    if (this.tagsInstance !== frame.instance) {
      this.tagsInstance = frame.instance;
      this.showTags(false);
    }
  }

  showTags(force) {
    const tags = $("viewer-tags");
    if (!tags.open && !force) return;
    renderTags($("viewer-tags-body"), this.tagsInstance, $("viewer-tags-filter").value);
  }
}

const root = document.getElementById("viewer");
if (root) {
  new Viewer(root).start().catch(() => {
    document.getElementById("viewer-status").textContent = "The viewer could not start in this browser.";
    root.dataset.state = "error";
  });
}
