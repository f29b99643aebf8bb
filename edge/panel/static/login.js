"use strict";
document.querySelector("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const msg = document.querySelector("#msg");
  msg.textContent = "";
  const body = {name: document.querySelector("#name").value.trim(), password: document.querySelector("#password").value};
  const res = await fetch("/api/login", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body), credentials: "same-origin"});
  const data = await res.json();
  if (!res.ok) { msg.textContent = data.error; document.querySelector("#password").value = ""; return; }
  location.href = "/";
});
