// The SVG chart of one scenario: a label column and one panel of horizontal bars per
// figure; the figures shown depend on what the scenario is about.
#include "herdless/bench/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <optional>

namespace herdless::bench {
namespace {

constexpr int kWidth = 1120;
constexpr int kLabelWidth = 190;
constexpr int kTop = 70;
constexpr int kRowHeight = 26;
constexpr int kGap = 20;

struct Panel {
  std::string title;
  std::function<std::optional<double>(const BenchRow&)> value;
  const char* format;  // of the value printed after the bar
};

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::optional<double> ms(const BenchRow& row, uint64_t us) {
  if (row.latency_samples == 0) return std::nullopt;
  return static_cast<double>(us) / 1000.0;
}

std::vector<Panel> panels_for(Scenario::Kind kind) {
  const Panel rate{"connections/s (more is better)",
                   [](const BenchRow& r) { return std::optional<double>(r.connections_per_second); }, "{:.0f}"};
  const Panel p99{"p99 latency, ms (less is better)", [](const BenchRow& r) { return ms(r, r.p99_us); }, "{:.2f}"};
  switch (kind) {
    case Scenario::Kind::steady:
      return {rate, p99,
              {"wake-ups per accepted connection", [](const BenchRow& r) { return r.wakeups_per_accept; }, "{:.2f}"},
              {"worker CPU us per connection", [](const BenchRow& r) { return r.cpu_us_per_connection; }, "{:.1f}"}};
    case Scenario::Kind::stalled:
      return {rate,
              {"failed, % of attempted",
               [](const BenchRow& r) {
                 return std::optional<double>(r.attempted == 0 ? 0.0 : 100.0 * static_cast<double>(r.failed) /
                                                                           static_cast<double>(r.attempted));
               },
               "{:.1f}%"},
              p99};
    case Scenario::Kind::hold:
      return {{"busiest worker / mean (1 = even)", [](const BenchRow& r) { return r.busiest_over_mean; }, "{:.2f}"},
              {"Jain's fairness index (1 = even)", [](const BenchRow& r) { return r.jain; }, "{:.3f}"},
              {"p99 connect latency, ms", [](const BenchRow& r) { return ms(r, r.p99_us); }, "{:.2f}"}};
  }
  return {};
}

const char* color_of(const Strategy& s) {
  if (s.accept == "reuseport") return s.steer == "hash" ? "#4e79a7" : "#1f4e79";
  if (s.accept == "shared") return "#e15759";
  if (s.accept == "shared-exclusive") return "#f28e2b";
  return "#9c6ade";
}

}  // namespace

std::string render_svg(const ScenarioReport& report) {
  const std::vector<Panel> panels = panels_for(report.scenario.kind);
  const int count = static_cast<int>(panels.size());
  const int rows = static_cast<int>(report.rows.size());
  const int panel_width = (kWidth - kLabelWidth - kGap * count) / std::max(count, 1);
  const int height = kTop + rows * kRowHeight + 30;
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">herdless bench: {2}</text>\n",
      kWidth, height, escape(report.scenario.title));
  for (int p = 0; p < count; ++p) {
    const Panel& panel = panels[static_cast<std::size_t>(p)];
    const int x = kLabelWidth + p * (panel_width + kGap);
    out += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n", x, kTop - 14, escape(panel.title));
    double top = 0;
    for (const BenchRow& row : report.rows) {
      if (auto v = row.measured ? panel.value(row) : std::nullopt) top = std::max(top, *v);
    }
    const double bar_room = panel_width - 60;  // room for the value after the bar
    for (int i = 0; i < rows; ++i) {
      const BenchRow& row = report.rows[static_cast<std::size_t>(i)];
      const int y = kTop + i * kRowHeight;
      const auto v = row.measured ? panel.value(row) : std::nullopt;
      if (!v) {
        out += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#888\">n/a</text>\n", x, y + 15);
        continue;
      }
      const double width = top > 0 ? std::max(1.0, *v / top * bar_room) : 1.0;
      out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/>\n", x, y + 3, width,
                         kRowHeight - 8, color_of(row.strategy));
      out += fmt::format("<text x=\"{:.1f}\" y=\"{}\">{}</text>\n", x + width + 4, y + 15,
                         escape(fmt::format(fmt::runtime(panel.format), *v)));
    }
  }
  for (int i = 0; i < rows; ++i) {
    const BenchRow& row = report.rows[static_cast<std::size_t>(i)];
    out += fmt::format("<text x=\"10\" y=\"{}\">{}</text>\n", kTop + i * kRowHeight + 15, escape(row.strategy.label()));
  }
  out += fmt::format("<text x=\"10\" y=\"{}\" fill=\"#666\" font-size=\"11\">{}</text>\n", height - 10,
                     escape(fmt::format("{} workers, service {}; n/a: not measured or not reported by the server",
                                        report.scenario.workers, report.scenario.service)));
  out += "</svg>\n";
  return out;
}

}  // namespace herdless::bench
