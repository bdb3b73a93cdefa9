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
  if (!zone) { return; }
  var pair = COOKIE + "=" + encodeURIComponent(zone);
  if (document.cookie.split("; ").indexOf(pair) === -1) {
    document.cookie = pair + "; path=/; max-age=31536000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
})();
