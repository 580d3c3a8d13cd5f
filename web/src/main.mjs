// BinDaaS in the browser: sign in with your key file (kept in this tab's memory only), then the page of your role.
import { Api } from "./api.mjs";
import { h, say, short, statusLine } from "./dom.mjs";
import { readKeyFile, signChallenge } from "./keys.mjs";
import { auditorScreen } from "./screens/auditor.mjs";
import { clinicianScreen } from "./screens/clinician.mjs";
import { patientScreen } from "./screens/patient.mjs";

const SCREENS = { patient: patientScreen, clinician: clinicianScreen, auditor: auditorScreen, authority: auditorScreen };
const app = { api: new Api(""), key: null, role: null, main: document.getElementById("main"), who: document.getElementById("who") };
window.bindaas = app; // for the end-to-end tests' timings; holds nothing once signed out

function signOut() {
  app.key = null; // the private keys were only ever in this object
  app.api.token = null;
  app.role = null;
  app.who.replaceChildren();
  signInScreen("Signed out: your key is forgotten.");
}

function signInScreen(message) {
  const status = statusLine("signin-status");
  const file = h("input", { id: "key-file", type: "file", accept: "application/json,.json", required: true });
  const form = h("form", { on: { submit: async (event) => {
    event.preventDefault();
    try {
      if (!file.files.length) throw new Error("choose your key file first");
      say(status, "Signing in…");
      const key = readKeyFile(await file.files[0].text());
      const challenge = await app.api.post("/auth/challenge", { key_id: key.keyId });
      const answer = await app.api.post("/auth/token", { key_id: key.keyId, nonce: challenge.nonce, signature: signChallenge(key, challenge.challenge) });
      Object.assign(app, { key, role: answer.role });
      app.api.token = answer.access_token;
      app.who.replaceChildren(h("span", { id: "signed-in-as" }, `${answer.role} ${short(key.keyId)}`), " ",
        h("button", { type: "button", id: "sign-out", on: { click: signOut } }, "Sign out"));
      await (SCREENS[answer.role] ?? auditorScreen)(app);
    } catch (err) { say(status, err.message, "error"); }
  } } },
  h("label", { for: "key-file" }, "Your key file (from ", h("code", {}, "bindaas keygen"), ")"), file,
  h("p", { class: "hint" }, "The file is read in this page only: your private keys are never uploaded, and are forgotten when you sign out or reload."),
  h("button", { type: "submit", id: "sign-in" }, "Sign in"));
  app.main.replaceChildren(h("h1", {}, "Sign in"), form, status);
  if (message) say(status, message);
}

window.addEventListener("unhandledrejection", (event) => {
  const line = document.querySelector(".status") ?? app.main;
  line.textContent = event.reason?.message ?? String(event.reason);
});
signInScreen();
