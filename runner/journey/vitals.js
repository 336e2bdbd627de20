// Core Web Vitals of a page's main document, measured as web.dev's web-vitals library measures them.
//
// runner/journey/vitals.py adds this script to a browser journey's context, with the binding below: every new
// value goes to Python at once (so that a document the journey navigates away from keeps its values), as
// (document id, vital, value in seconds; CLS has no unit). The function named by FLUSH resolves to all the
// document's values, as such triples, once what the browser measured until then is in.
(() => {
  "use strict";
  const BINDING = "__syntheticMonitorVital";
  const FLUSH = "__syntheticMonitorVitalsFlush";
  if (window.top !== window || Object.hasOwn(window, FLUSH)) {
    return; // an iframe does not count; a second run of this script in the same document adds nothing
  }
  const binding = window[BINDING]; // kept before the page's own scripts run: they cannot replace it
  const documentId = `${performance.timeOrigin}-${Math.random().toString(36).slice(2)}`;
  const values = new Map();
  const observers = [];

  const set = (name, seconds) => {
    if (!(seconds >= 0) || !Number.isFinite(seconds) || values.get(name) === seconds) {
      return;
    }
    values.set(name, seconds);
    try {
      Promise.resolve(binding(documentId, name, seconds)).catch(() => undefined);
    } catch {
      // the context is closing: nobody to tell
    }
  };
  const observe = (type, handle, options = {}) => {
    try {
      const observer = new PerformanceObserver((list) => handle(list.getEntries()));
      observer.observe({ type, buffered: true, ...options });
      observers.push([observer, handle]);
    } catch {
      // this browser does not measure that
    }
  };

  // LCP: the last candidate's time (the browser stops reporting candidates at the first input).
  observe("largest-contentful-paint", (entries) => {
    const last = entries.at(-1);
    if (last) {
      set("lcp", last.startTime / 1000);
    }
  });

  // CLS: layout shifts not caused by input, in session windows (1 s gap, 5 s at most); the largest window's
  // sum. Reported from the first contentful paint on, 0 until something shifts, as web-vitals does.
  let painted = false;
  let cls = 0;
  let session = 0;
  let sessionFirst = 0;
  let sessionLast = 0;
  observe("layout-shift", (entries) => {
    for (const entry of entries) {
      if (entry.hadRecentInput) {
        continue;
      }
      if (session && entry.startTime - sessionLast < 1000 && entry.startTime - sessionFirst < 5000) {
        session += entry.value;
      } else {
        session = entry.value;
        sessionFirst = entry.startTime;
      }
      sessionLast = entry.startTime;
      cls = Math.max(cls, session);
    }
    if (painted) {
      set("cls", cls);
    }
  });

  // FCP.
  observe("paint", (entries) => {
    for (const entry of entries) {
      if (entry.name === "first-contentful-paint") {
        set("fcp", entry.startTime / 1000);
        painted = true;
        set("cls", cls);
      }
    }
  });

  // TTFB: the navigation's responseStart, once the browser has it.
  const ttfb = () => {
    const navigation = performance.getEntriesByType("navigation")[0];
    if (navigation && navigation.responseStart > 0 && navigation.responseStart <= performance.now()) {
      set("ttfb", navigation.responseStart / 1000);
    }
  };
  addEventListener("DOMContentLoaded", ttfb, { once: true });

  // INP: each interaction's longest event; the worst interaction, or with 50 and more, the 98th percentile
  // (one worst interaction left out per 50). Only the 10 longest are kept, as web-vitals does.
  const interactions = new Map();
  let interactionCount = 0;
  let lastInput = Number.NEGATIVE_INFINITY; // when the last pointerdown or keydown happened
  let lastReported = Number.NEGATIVE_INFINITY; // when the last interaction the browser reported started
  const inp = (entries) => {
    for (const entry of entries) {
      if (!entry.interactionId) {
        continue;
      }
      lastReported = Math.max(lastReported, entry.startTime);
      const known = interactions.get(entry.interactionId);
      interactionCount += known === undefined ? 1 : 0;
      interactions.set(entry.interactionId, Math.max(entry.duration, known ?? 0));
    }
    const longest = [...interactions].sort((a, b) => b[1] - a[1]).slice(0, 10);
    if (interactions.size > longest.length) {
      interactions.clear();
      longest.forEach(([id, duration]) => interactions.set(id, duration));
    }
    if (longest.length) {
      const count = Math.max(performance.interactionCount || 0, interactionCount);
      set("inp", longest[Math.min(longest.length - 1, Math.floor(count / 50))][1] / 1000);
    }
  };
  observe("event", inp, { durationThreshold: 16 });
  observe("first-input", inp); // an interaction quicker than 16 ms still counts

  // The browser reports an interaction after the frame that shows its effect, and a page loaded a moment ago
  // may not have painted yet (on a busy machine, for several frames): then wait, frame by frame, until it has
  // (at most SETTLE_MS: a hidden page has no frames, a blank one never paints content).
  const SETTLE_MS = 1000;
  for (const type of ["pointerdown", "keydown"]) {
    addEventListener(type, (event) => (lastInput = event.timeStamp), { capture: true, passive: true });
  }
  const settle = () =>
    new Promise((resolve) => {
      const started = performance.now();
      const check = () => {
        takeRecords();
        const unpainted = !painted && location.protocol !== "about:";
        const unreported = lastInput > lastReported && performance.now() - lastInput < 1000;
        if ((!unpainted && !unreported) || performance.now() - started > SETTLE_MS) {
          return resolve();
        }
        requestAnimationFrame(() => setTimeout(check, 0));
      };
      check();
      setTimeout(resolve, SETTLE_MS);
    });

  // What the browser measured but has not delivered yet, taken now: before Python asks, and before the page goes.
  const takeRecords = () => {
    for (const [observer, handle] of observers) {
      handle(observer.takeRecords());
    }
    ttfb();
  };
  addEventListener("pagehide", takeRecords, { capture: true });
  Object.defineProperty(window, FLUSH, {
    value: async () => {
      takeRecords();
      await settle();
      takeRecords();
      return [...values].map(([name, value]) => [documentId, name, value]);
    },
  });
})();
