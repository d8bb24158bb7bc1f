// The image viewer: window/level by drag and presets, zoom, pan, invert, reset and heatmap
// overlays, on an 8-bit display image drawn into a canvas. No framework, no build step.
"use strict";

// Presets as (window width, level) on the 0-255 display scale.
const PRESETS = {
  default: [256, 128],
  lung: [160, 80],
  mediastinum: [120, 150],
  bone: [90, 200],
};

class Viewer {
  constructor(canvas) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.buffer = document.createElement("canvas");
    this.source = null; // ImageData of the display image
    this.overlays = new Map(); // url -> HTMLImageElement shown
    this.wanted = new Set(); // urls asked for: one hidden while it loads stays hidden
    this.tool = "wl";
    this.onchange = () => {};
    this.reset();
    this._bindMouse();
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  load(url) {
    const image = new Image();
    image.onload = () => {
      this.buffer.width = image.naturalWidth;
      this.buffer.height = image.naturalHeight;
      const bufferContext = this.buffer.getContext("2d");
      bufferContext.drawImage(image, 0, 0);
      this.source = bufferContext.getImageData(0, 0, image.naturalWidth, image.naturalHeight);
      this.reset();
      this.canvas.dataset.loaded = "true";
    };
    image.src = url;
  }

  reset() {
    [this.width, this.level] = PRESETS.default;
    this.invert = false;
    this.zoom = 1;
    this.panX = 0;
    this.panY = 0;
    this.render();
  }

  preset(name) {
    if (!PRESETS[name]) return;
    [this.width, this.level] = PRESETS[name];
    this.render();
  }

  // The preset the window is at, or "" (after a drag): what the preset control shows.
  presetName() {
    const match = Object.entries(PRESETS).find(([, [w, l]]) => w === this.width && l === this.level);
    return match ? match[0] : "";
  }

  setWindow(width, level) {
    this.width = Math.max(1, Math.min(512, width));
    this.level = Math.max(-64, Math.min(320, level));
    this.render();
  }

  toggleInvert() {
    this.invert = !this.invert;
    this.render();
  }

  zoomBy(factor) {
    this.zoom = Math.max(0.2, Math.min(16, this.zoom * factor));
    this.draw();
  }

  showOverlay(url, visible) {
    if (!visible) {
      this.wanted.delete(url);
      this.overlays.delete(url);
      this.draw();
      return;
    }
    this.wanted.add(url);
    const image = new Image();
    image.onload = () => {
      if (!this.wanted.has(url)) return;
      this.overlays.set(url, image);
      this.draw();
    };
    image.src = url;
  }

  // Apply the window and inversion to the buffer (once per change), then draw.
  render() {
    if (this.source) {
      const low = this.level - this.width / 2;
      const lut = new Uint8ClampedArray(256);
      for (let v = 0; v < 256; v++) {
        const y = ((v - low) / this.width) * 255;
        lut[v] = this.invert ? 255 - y : y;
      }
      const out = new ImageData(this.source.width, this.source.height);
      const src = this.source.data;
      const dst = out.data;
      for (let i = 0; i < src.length; i += 4) {
        const y = lut[src[i]];
        dst[i] = y;
        dst[i + 1] = y;
        dst[i + 2] = y;
        dst[i + 3] = 255;
      }
      this.buffer.getContext("2d").putImageData(out, 0, 0);
    }
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const rect = canvas.getBoundingClientRect();
    if (rect.width && (canvas.width !== Math.round(rect.width) || canvas.height !== Math.round(rect.height))) {
      canvas.width = Math.round(rect.width);
      canvas.height = Math.round(rect.height);
    }
    const ctx = this.context;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (this.source) {
      const fit = Math.min(canvas.width / this.buffer.width, canvas.height / this.buffer.height);
      const scale = fit * this.zoom;
      const x = (canvas.width - this.buffer.width * scale) / 2 + this.panX;
      const y = (canvas.height - this.buffer.height * scale) / 2 + this.panY;
      ctx.setTransform(scale, 0, 0, scale, x, y);
      ctx.imageSmoothingEnabled = scale < 1;
      ctx.drawImage(this.buffer, 0, 0);
      ctx.imageSmoothingEnabled = true;
      for (const overlay of this.overlays.values()) {
        ctx.drawImage(overlay, 0, 0, this.buffer.width, this.buffer.height);
      }
    }
    const d = canvas.dataset;
    d.window = String(Math.round(this.width));
    d.level = String(Math.round(this.level));
    d.invert = String(this.invert);
    d.zoom = this.zoom.toFixed(2);
    d.preset = this.presetName();
    d.overlays = String(this.overlays.size);
    this.onchange(this);
  }

  _bindMouse() {
    let last = null;
    this.canvas.addEventListener("mousedown", (event) => {
      last = { x: event.clientX, y: event.clientY, button: event.button };
      event.preventDefault();
    });
    window.addEventListener("mouseup", () => {
      last = null;
    });
    window.addEventListener("mousemove", (event) => {
      if (!last) return;
      const dx = event.clientX - last.x;
      const dy = event.clientY - last.y;
      last.x = event.clientX;
      last.y = event.clientY;
      if (this.tool === "pan" || last.button === 1 || last.button === 2) {
        this.panX += dx;
        this.panY += dy;
        this.draw();
      } else {
        this.setWindow(this.width + dx, this.level - dy);
      }
    });
    this.canvas.addEventListener("contextmenu", (event) => event.preventDefault());
    this.canvas.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        this.zoomBy(event.deltaY < 0 ? 1.1 : 1 / 1.1);
      },
      { passive: false },
    );
  }
}

window.Viewer = Viewer;
window.VIEWER_PRESETS = PRESETS;
