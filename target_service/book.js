// Books through POST /reservations and says what happened.
"use strict";
const form = document.getElementById("booking");
const result = document.getElementById("result");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    username: form.username.value,
    party_size: Number(form.party_size.value),
    time: form.time.value,
  };
  result.className = "";
  result.textContent = "Booking...";
  try {
    const response = await fetch("/reservations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      result.className = "error";
      result.textContent = `Booking failed: the service answered ${response.status}`;
      return;
    }
    const booked = await response.json();
    result.className = "ok";
    result.textContent = `Booked: reservation ${booked.id} for ${booked.username}`;
  } catch (error) {
    result.className = "error";
    result.textContent = `Booking failed: ${error}`;
  }
});
