// Tells the server the browser's time zone, so times are shown in it (peerlinks.middleware.TimeZoneMiddleware)
// unless the person chose another in the time-zone menu.
(function () {
  "use strict";
  var COOKIE = "dcportal_tz_detected";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return; // no Intl time zone support: the server's default zone stays
  }
  // IANA names ("Asia/Shanghai", "Etc/GMT+8") need no encoding, and the server reads the cookie as it is.
  if (!zone || !/^[A-Za-z0-9_+\-\/]+$/.test(zone)) { return; }
  var pair = COOKIE + "=" + zone;
  if (document.cookie.split("; ").indexOf(pair) === -1) {
    document.cookie = pair + "; path=/; max-age=31536000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
})();
