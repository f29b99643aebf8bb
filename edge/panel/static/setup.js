"use strict";
document.querySelector("#setup").addEventListener("submit", async (e) => {
  e.preventDefault();
  const msg = document.querySelector("#msg");
  const pw = document.querySelector("#password").value;
  if (pw !== document.querySelector("#again").value) { msg.textContent = "两次输入的密码不一致"; return; }
  const body = {token: document.querySelector("#token").value.trim(), name: document.querySelector("#name").value.trim(), password: pw};
  const res = await fetch("/api/setup", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body), credentials: "same-origin"});
  const data = await res.json();
  if (!res.ok) { msg.textContent = data.error; return; }
  location.href = "/login";
});
