"use strict";
document.querySelector("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const msg = document.querySelector("#msg");
  const button = document.querySelector("#submit");
  msg.textContent = "";
  const body = {name: document.querySelector("#name").value.trim(), password: document.querySelector("#password").value};
  button.disabled = true;
  try {
    const res = await fetch("/api/login", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body), credentials: "same-origin"});
    let data = null;
    try { data = await res.json(); } catch (err) { data = null; }
    if (!res.ok) {
      msg.textContent = (data && data.error) || `登录失败：服务器返回 HTTP ${res.status}`;
      document.querySelector("#password").value = "";
      return;
    }
    location.href = "/";
  } catch (err) {
    msg.textContent = "无法连接员工面板，请检查网络后重试";
  } finally {
    button.disabled = false;
  }
});
