// HttpDate: gmtime_r and fixed-width digits; no locale, no strftime.
#include "herdless/http/http_date.h"

#include <time.h>

namespace herdless::http {
namespace {

void two_digits(char* out, int value) {
  out[0] = static_cast<char>('0' + value / 10);
  out[1] = static_cast<char>('0' + value % 10);
}

}  // namespace

void format_http_date(int64_t unix_seconds, char* out) {
  static constexpr char kDays[] = "SunMonTueWedThuFriSat";
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const time_t t = static_cast<time_t>(unix_seconds);
  tm parts{};
  ::gmtime_r(&t, &parts);
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  for (int k = 0; k < 3; ++k) out[k] = kDays[parts.tm_wday * 3 + k];
  out[3] = ',';
  out[4] = ' ';
  two_digits(out + 5, parts.tm_mday);
  out[7] = ' ';
  for (int k = 0; k < 3; ++k) out[8 + k] = kMonths[parts.tm_mon * 3 + k];
  out[11] = ' ';
  const int year = (parts.tm_year + 1900) % 10000;
  two_digits(out + 12, year / 100);
  two_digits(out + 14, year % 100);
  out[16] = ' ';
  two_digits(out + 17, parts.tm_hour);
  out[19] = ':';
  two_digits(out + 20, parts.tm_min);
  out[22] = ':';
  two_digits(out + 23, parts.tm_sec);
  out[25] = ' ';
  out[26] = 'G';
  out[27] = 'M';
  out[28] = 'T';
}

HttpDate::HttpDate() { refresh(); }

bool HttpDate::refresh() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  if (now.tv_sec == second_) return false;
  second_ = now.tv_sec;
  format_http_date(second_, text_);
  return true;
}

}  // namespace herdless::http
