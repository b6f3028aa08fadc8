// 声光告警 (annunciation, as ISA-18.2 calls it): while an emergency alarm is unacknowledged the
// duty room hears a repeating two-tone chime, sees the tab title flash, and gets a desktop
// notification when the browser allows it. The tone is made with the Web Audio API, so there is
// no sound file to serve. Muting lasts for this browser tab's session (sessionStorage): the next
// shift, in a new tab, starts with the sound on.

const MUTE_KEY = "propwatch.muted";
const CHIME_EVERY_MS = 2000;
const FLASH_EVERY_MS = 1000;
// [frequency Hz, start s, length s]: two falling tones, hard to mistake for a phone or a browser.
const CHIME = [
  [880, 0, 0.2],
  [660, 0.25, 0.3],
];
const VOLUME = 0.2;

export const ALERT_PREFIX = "【紧急告警】";

export class Annunciator {
  // onChange() is called whenever what the page should show changes (alerting, muted, blocked).
  constructor(onChange = () => {}) {
    this.onChange = onChange;
    this.baseTitle = document.title;
    this.alarms = new Map(); // id -> { id, title, body }
    this.muted = sessionStorage.getItem(MUTE_KEY) === "1";
    this.audio = null;
    this.held = 0; // chimes in a row the browser would not play
    this.chimeTimer = null;
    this.flashTimer = null;
    this.flashOn = false;
    this.notes = new Map(); // id -> Notification shown for that alarm
    this.notifyError = null;
    // A page may start sound only once the user has touched it (the browsers' autoplay rule):
    // the first click or key anywhere lets a waiting chime through.
    const unlock = () => {
      if (this.audio && this.audio.state === "suspended") this.audio.resume().then(() => this.changed());
    };
    document.addEventListener("pointerdown", unlock, true);
    document.addEventListener("keydown", unlock, true);
  }

  get active() {
    return this.alarms.size > 0;
  }

  // The chime should sound but the browser holds the audio until the page is clicked. A new
  // context may take a moment to start, so only a chime held twice in a row counts.
  get soundBlocked() {
    return this.active && !this.muted && this.held >= 2 && this.audio.state !== "running";
  }

  get permission() {
    return "Notification" in window ? Notification.permission : "unsupported";
  }

  // The alarms that must be annunciated now; anything no longer listed stops and its
  // notification closes.
  update(alarms) {
    const next = new Map(alarms.map((a) => [a.id, a]));
    for (const [id, note] of this.notes) {
      if (!next.has(id)) {
        note.close();
        this.notes.delete(id);
      }
    }
    this.alarms = next;
    for (const a of next.values()) this.notify(a);
    this.schedule();
    this.changed();
  }

  setMuted(muted) {
    this.muted = muted;
    if (muted) sessionStorage.setItem(MUTE_KEY, "1");
    else sessionStorage.removeItem(MUTE_KEY);
    this.schedule();
    this.changed();
  }

  // Asked only from a button: a permission prompt on load is refused by users and browsers.
  async askPermission() {
    if (this.permission === "unsupported") return;
    await Notification.requestPermission();
    for (const a of this.alarms.values()) this.notify(a);
    this.changed();
  }

  // Called from a click, which is what the autoplay rule waits for.
  enableSound() {
    if (this.audio) this.audio.resume().then(() => this.changed());
  }

  schedule() {
    const sound = this.active && !this.muted;
    if (sound && this.chimeTimer === null) {
      this.chime();
      this.chimeTimer = setInterval(() => this.chime(), CHIME_EVERY_MS);
    } else if (!sound && this.chimeTimer !== null) {
      clearInterval(this.chimeTimer);
      this.chimeTimer = null;
    }
    if (this.active && this.flashTimer === null) {
      this.flashOn = false;
      this.flash();
      this.flashTimer = setInterval(() => this.flash(), FLASH_EVERY_MS);
    } else if (!this.active && this.flashTimer !== null) {
      clearInterval(this.flashTimer);
      this.flashTimer = null;
      document.title = this.baseTitle;
    }
  }

  flash() {
    this.flashOn = !this.flashOn;
    if (!this.flashOn) {
      document.title = this.baseTitle;
      return;
    }
    const [first] = this.alarms.values();
    const more = this.alarms.size > 1 ? ` 等 ${this.alarms.size} 条` : "";
    document.title = `${ALERT_PREFIX}${first.title}${more}`;
  }

  chime() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (this.audio === null) {
      this.audio = new Context();
      this.audio.onstatechange = () => this.changed();
    }
    const ctx = this.audio;
    if (ctx.state !== "running") {
      // Tones scheduled on a held clock would all burst out at once when it starts.
      this.held += 1;
      ctx.resume().then(
        () => this.changed(),
        () => this.changed(),
      );
      this.changed();
      return;
    }
    this.held = 0;
    const t0 = ctx.currentTime + 0.02;
    for (const [hz, start, length] of CHIME) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = hz;
      const on = t0 + start;
      // short ramps: a tone switched on and off at full volume clicks
      gain.gain.setValueAtTime(0, on);
      gain.gain.linearRampToValueAtTime(VOLUME, on + 0.01);
      gain.gain.setValueAtTime(VOLUME, on + length - 0.02);
      gain.gain.linearRampToValueAtTime(0, on + length);
      osc.connect(gain).connect(ctx.destination);
      osc.start(on);
      osc.stop(on + length);
    }
  }

  notify(a) {
    if (this.notes.has(a.id) || this.permission !== "granted") return;
    try {
      const note = new Notification(`${ALERT_PREFIX}${a.title}`, {
        body: a.body,
        tag: `propwatch-alarm-${a.id}`,
        requireInteraction: true,
      });
      note.onclick = () => {
        window.focus();
        note.close();
      };
      this.notes.set(a.id, note);
      this.notifyError = null;
    } catch (err) {
      // e.g. a phone browser that shows notifications only through a service worker
      this.notifyError = err.message || String(err);
    }
  }

  changed() {
    const body = document.body;
    if (this.active) body.dataset.alerting = String(this.alarms.size);
    else delete body.dataset.alerting;
    body.dataset.sound = this.muted ? "muted" : this.soundBlocked ? "blocked" : "on";
    this.onChange();
  }
}
