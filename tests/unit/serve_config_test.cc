// ServeConfig resolution (defaults, then file, then flags), validation of every setting,
// read_config_file on real TOML files, parse_duration and the message helpers.
#include "herdless/serve_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "herdless/duration.h"

namespace herdless {
namespace {

using std::chrono::milliseconds;

// A TOML file in a fresh temporary directory, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    std::string pattern = ::testing::TempDir() + "herdless_config_XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = pattern;
    path_ = dir_ + "/herdless.toml";
    std::ofstream(path_) << contents;
  }
  ~TempFile() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

std::vector<std::string> urls(const ServeConfig& config) {
  std::vector<std::string> out;
  for (const ListenAddress& a : config.listen) out.push_back(a.url());
  return out;
}

// The values of `key` in `settings`, in order.
std::vector<std::string> values_of(const Settings& settings, const std::string& key) {
  std::vector<std::string> out;
  for (const Setting& s : settings) {
    if (s.key == key) out.push_back(s.value);
  }
  return out;
}

Error resolve_error(const Settings& file, const Settings& flags) {
  auto config = resolve_serve_config(file, flags);
  EXPECT_FALSE(config.has_value());
  return config ? Error{} : config.error();
}

// --- defaults ----------------------------------------------------------------------------

TEST(ServeConfig, Defaults) {
  const ServeConfig d = default_serve_config();
  EXPECT_EQ(urls(d), std::vector<std::string>{"tcp://0.0.0.0:10013"});
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(d.workers, static_cast<int>(std::clamp<long>(cpus, 1, 1024)));
  EXPECT_EQ(d.mode, WorkerMode::process);
  EXPECT_EQ(d.backlog, 4096);
  EXPECT_EQ(d.service, ServiceKind::hello);
  EXPECT_EQ(d.message, "hello world.");
  EXPECT_EQ(d.idle_timeout, milliseconds(60'000));
  EXPECT_EQ(d.max_conns, 100'000);
  EXPECT_EQ(d.drain_timeout, milliseconds(10'000));
  ASSERT_TRUE(d.admin.has_value());
  EXPECT_EQ(d.admin->url(), "tcp://127.0.0.1:10014");
  EXPECT_EQ(d.steer, SteerMode::least_loaded);
  EXPECT_EQ(d.stall_threshold, milliseconds(100));
  EXPECT_FALSE(d.pin_workers);
}

TEST(ServeConfig, NoSettingsResolveToTheDefaults) {
  auto config = resolve_serve_config({}, {});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  const ServeConfig d = default_serve_config();
  EXPECT_EQ(urls(*config), urls(d));
  EXPECT_EQ(config->workers, d.workers);
  EXPECT_EQ(config->backlog, d.backlog);
  EXPECT_EQ(config->message, d.message);
  EXPECT_EQ(config->admin->url(), d.admin->url());
}

// --- precedence --------------------------------------------------------------------------

TEST(ServeConfig, FlagOverridesFile) {
  const Settings file = {{"workers", "2"}, {"mode", "thread"}, {"idle-timeout", "5s"}, {"service", "echo"}};
  const Settings flags = {{"workers", "3"}, {"idle-timeout", "250ms"}};
  auto config = resolve_serve_config(file, flags);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->workers, 3);                        // flag wins
  EXPECT_EQ(config->idle_timeout, milliseconds(250));  // flag wins
  EXPECT_EQ(config->mode, WorkerMode::thread);          // file only
  EXPECT_EQ(config->service, ServiceKind::echo);        // file only
  EXPECT_EQ(config->backlog, 4096);                     // default
}

TEST(ServeConfig, FileListenReplacesTheDefault) {
  auto config = resolve_serve_config({{"listen", "tcp://127.0.0.1:7000"}}, {});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(urls(*config), std::vector<std::string>{"tcp://127.0.0.1:7000"});
}

TEST(ServeConfig, ListenFromFlagsReplacesTheFilesList) {
  const Settings file = {{"listen", "tcp://127.0.0.1:7000"}, {"listen", "tcp://127.0.0.1:7001"}};
  const Settings flags = {{"listen", "tcp://[::1]:8000"}};
  auto config = resolve_serve_config(file, flags);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(urls(*config), std::vector<std::string>{"tcp://[::1]:8000"});
}

TEST(ServeConfig, SeveralListensAccumulateInOrder) {
  const Settings flags = {{"listen", "tcp://127.0.0.1:7000"},
                          {"workers", "1"},
                          {"listen", "tcp://127.0.0.1:7001"},
                          {"listen", "tcp://[::1]:7002"}};
  auto config = resolve_serve_config({}, flags);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(urls(*config),
            (std::vector<std::string>{"tcp://127.0.0.1:7000", "tcp://127.0.0.1:7001", "tcp://[::1]:7002"}));
}

TEST(ServeConfig, FileListensKeptWhenFlagsNameNone) {
  const Settings file = {{"listen", "tcp://127.0.0.1:7000"}, {"listen", "tcp://127.0.0.1:7001"}};
  auto config = resolve_serve_config(file, {{"workers", "4"}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(urls(*config), (std::vector<std::string>{"tcp://127.0.0.1:7000", "tcp://127.0.0.1:7001"}));
  EXPECT_EQ(config->workers, 4);
}

TEST(ServeConfig, LastValueOfASettingWins) {
  auto config = resolve_serve_config({}, {{"workers", "2"}, {"workers", "7"}, {"mode", "thread"}, {"mode", "process"}});
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->workers, 7);
  EXPECT_EQ(config->mode, WorkerMode::process);
}

// --- valid values ------------------------------------------------------------------------

TEST(ServeConfig, AcceptsEveryValidValue) {
  const Settings flags = {{"workers", "1024"},      {"backlog", "1"},          {"max-conns", "1"},
                          {"mode", "thread"},       {"service", "echo"},       {"idle-timeout", "2m"},
                          {"drain-timeout", "1.5"}, {"admin", "[::1]:9999"},   {"message", "w={worker}\\n"}};
  auto config = resolve_serve_config({}, flags);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->workers, 1024);
  EXPECT_EQ(config->backlog, 1);
  EXPECT_EQ(config->max_conns, 1);
  EXPECT_EQ(config->mode, WorkerMode::thread);
  EXPECT_EQ(config->service, ServiceKind::echo);
  EXPECT_EQ(config->idle_timeout, milliseconds(120'000));
  EXPECT_EQ(config->drain_timeout, milliseconds(1'500));
  ASSERT_TRUE(config->admin.has_value());
  EXPECT_EQ(config->admin->url(), "tcp://[::1]:9999");
  EXPECT_EQ(config->message, "w={worker}\n");  // escapes expanded, {worker} kept
}

TEST(ServeConfig, SteeringSettings) {
  const std::pair<const char*, SteerMode> modes[] = {{"hash", SteerMode::hash},
                                                     {"least-loaded", SteerMode::least_loaded},
                                                     {"affinity", SteerMode::affinity},
                                                     {"cpu", SteerMode::cpu}};
  for (const auto& [text, mode] : modes) {
    auto config = resolve_serve_config({}, {{"steer", text}});
    ASSERT_TRUE(config.has_value()) << text << ": " << config.error().message();
    EXPECT_EQ(config->steer, mode) << text;
    EXPECT_STREQ(steer_mode_name(mode), text);
  }
  auto config = resolve_serve_config({{"pin-workers", "true"}, {"stall-threshold", "250ms"}}, {});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_TRUE(config->pin_workers);
  EXPECT_EQ(config->stall_threshold, milliseconds(250));
  for (const char* text : {"true", "1"}) EXPECT_TRUE(resolve_serve_config({}, {{"pin-workers", text}})->pin_workers);
  for (const char* text : {"false", "0"}) {
    EXPECT_FALSE(resolve_serve_config({{"pin-workers", "true"}}, {{"pin-workers", text}})->pin_workers);
  }
}

TEST(ServeConfig, HttpSettings) {
  const ServeConfig d = default_serve_config();
  EXPECT_EQ(d.http_body, "hello world.");
  EXPECT_EQ(d.http_max_body, 1u << 20);
  EXPECT_EQ(service_name(ServiceKind::http), "http");
  auto config = resolve_serve_config({{"service", "http"}, {"http-max-body", "64k"}},
                                     {{"http-body", "a\\tb\\n"}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->service, ServiceKind::http);
  EXPECT_EQ(config->http_body, "a\tb\n");
  EXPECT_EQ(config->http_max_body, 65536u);
  for (auto [text, bytes] : {std::pair<const char*, uint64_t>{"0", 0}, {"1048576", 1 << 20}, {"2M", 2 << 20},
                             {"1g", uint64_t{1} << 30}, {"1024G", uint64_t{1} << 40}}) {
    auto sized = resolve_serve_config({}, {{"http-max-body", text}});
    ASSERT_TRUE(sized.has_value()) << text << ": " << sized.error().message();
    EXPECT_EQ(sized->http_max_body, bytes) << text;
  }
}

TEST(ServeConfig, WorkersBounds) {
  EXPECT_EQ(resolve_serve_config({}, {{"workers", "1"}})->workers, 1);
  EXPECT_EQ(resolve_serve_config({}, {{"workers", "1024"}})->workers, 1024);
}

TEST(ServeConfig, AdminOffOrEmptyDisablesIt) {
  auto off = resolve_serve_config({}, {{"admin", "off"}});
  ASSERT_TRUE(off.has_value());
  EXPECT_FALSE(off->admin.has_value());
  auto empty = resolve_serve_config({{"admin", "127.0.0.1:1"}}, {{"admin", ""}});
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(empty->admin.has_value());
}

TEST(ServeConfig, IdleTimeoutOffTurnsItOff) {
  auto off = resolve_serve_config({{"idle-timeout", "5s"}}, {{"idle-timeout", "off"}});
  ASSERT_TRUE(off.has_value()) << off.error().message();
  EXPECT_EQ(off->idle_timeout, milliseconds::zero());
  auto file = resolve_serve_config({{"idle-timeout", "off"}}, {});
  ASSERT_TRUE(file.has_value()) << file.error().message();
  EXPECT_EQ(file->idle_timeout, milliseconds::zero());
}

// --- invalid values ----------------------------------------------------------------------

TEST(ServeConfig, EveryInvalidValueIsAnError) {
  const Settings bad = {
      {"workers", "0"},          {"workers", "1025"},        {"workers", "-1"},
      {"workers", "two"},        {"workers", "2x"},          {"workers", ""},
      {"workers", "99999999999"}, {"backlog", "0"},           {"backlog", "1048577"},
      {"max-conns", "0"},        {"max-conns", "10000001"},  {"mode", "x"},
      {"mode", ""},              {"mode", "Thread"},         {"service", "x"},
      {"service", "HTTP"},       {"idle-timeout", "abc"},    {"idle-timeout", ""},
      {"idle-timeout", "0"},     {"idle-timeout", "0ms"},    {"idle-timeout", "-1s"},
      {"idle-timeout", "5h"},    {"idle-timeout", "10 s"},   {"drain-timeout", "x"},
      {"drain-timeout", "0s"},   {"drain-timeout", "1d"},    {"listen", "sctp://127.0.0.1:53"},
      {"listen", "127.0.0.1:80"}, {"listen", "tcp://localhost:80"}, {"admin", "localhost:80"},
      {"admin", "127.0.0.1"},    {"no-such-key", "1"},       {"Workers", "1"},
      {"steer", "x"},            {"steer", "least_loaded"},  {"steer", ""},
      {"pin-workers", "yes"},    {"pin-workers", ""},        {"stall-threshold", "0ms"},
      {"stall-threshold", "x"},  {"http-max-body", ""},      {"http-max-body", "x"},
      {"http-max-body", "-1"},   {"http-max-body", "1.5m"},  {"http-max-body", "64kb"},
      {"http-max-body", "2048g"}, {"udp-steer", "x"},        {"udp-steer", "Session"},
      {"udp-session-key", "8"},  {"udp-session-key", "0:0"}, {"udp-session-key", "0:33"},
      {"udp-session-key", ":4"}, {"udp-session-key", "1:"},  {"udp-session-key", "-1:4"},
      {"udp-session-key", "65525:8"}, {"udp-session-key", "4294967295:1"}, {"udp-session-key", "0:4x"}, {"udp-max-datagram", "0"},
      {"udp-max-datagram", "65528"}, {"udp-max-datagram", "64k"}, {"idle-timeout", "Off"},
      {"drain-timeout", "off"},  {"stall-threshold", "off"},
  };
  for (const Setting& s : bad) {
    SCOPED_TRACE(s.key + " = '" + s.value + "'");
    // As a flag and as a file entry, even when the other source is valid.
    const Error from_flag = resolve_error({{"workers", "2"}}, {s});
    const Error from_file = resolve_error({s}, {{"workers", "2"}});
    EXPECT_EQ(from_flag.code, 0);
    EXPECT_FALSE(from_flag.message().empty());
    EXPECT_EQ(from_flag.message(), from_file.message());
  }
}

TEST(ServeConfig, ErrorsNameTheSettingAndTheValue) {
  const Error workers = resolve_error({}, {{"workers", "1025"}});
  EXPECT_EQ(workers.call, "invalid workers");
  EXPECT_NE(workers.context.find("'1025'"), std::string::npos) << workers.context;
  EXPECT_NE(workers.context.find("1 to 1024"), std::string::npos) << workers.context;

  const Error mode = resolve_error({}, {{"mode", "x"}});
  EXPECT_EQ(mode.call, "invalid mode");
  EXPECT_NE(mode.context.find("'x'"), std::string::npos);

  const Error unknown = resolve_error({}, {{"colour", "blue"}});
  EXPECT_EQ(unknown.call, "unknown setting");
  EXPECT_NE(unknown.context.find("colour"), std::string::npos);

  const Error idle = resolve_error({}, {{"idle-timeout", "5h"}});
  EXPECT_EQ(idle.call, "invalid idle-timeout");

  const Error scheme = resolve_error({}, {{"listen", "sctp://127.0.0.1:53"}});
  EXPECT_NE(scheme.message().find("sctp://127.0.0.1:53"), std::string::npos) << scheme.message();

  const Error key = resolve_error({}, {{"udp-session-key", "0:33"}});
  EXPECT_EQ(key.call, "invalid udp-session-key");
  EXPECT_NE(key.context.find("length 1..32"), std::string::npos) << key.context;
}

// --- UDP settings --------------------------------------------------------------------------

TEST(ServeConfig, UdpListensMixWithTcpAndDefaultToTheKernelHash) {
  auto config = resolve_serve_config({}, {{"listen", "udp://127.0.0.1:5353"}, {"listen", "tcp://[::1]:80"},
                                          {"listen", "udp://[::1]:0"}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  ASSERT_EQ(config->listen.size(), 3u);
  EXPECT_EQ(config->listen[0].transport, Transport::udp);
  EXPECT_EQ(config->listen[1].transport, Transport::tcp);
  EXPECT_EQ(config->listen[2].url(), "udp://[::1]:0");
  EXPECT_EQ(config->udp.mode, UdpSteer::hash);
  EXPECT_EQ(config->udp.key.length, 0u);
  EXPECT_EQ(config->udp_max_datagram, 65527u);
}

TEST(ServeConfig, ASessionKeyAloneAsksForSessionSteering) {
  auto config = resolve_serve_config({}, {{"udp-session-key", "4:16"}, {"udp-max-datagram", "1500"}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(config->udp.mode, UdpSteer::session);
  EXPECT_EQ(config->udp.key, (SessionKey{4, 16}));
  EXPECT_EQ(config->udp_max_datagram, 1500u);
  // Said explicitly, hash wins over the key (the key is kept, unused).
  auto hashed = resolve_serve_config({{"udp-session-key", "0:8"}}, {{"udp-steer", "hash"}});
  ASSERT_TRUE(hashed.has_value());
  EXPECT_EQ(hashed->udp.mode, UdpSteer::hash);
}

TEST(ServeConfig, SessionSteeringNeedsAKey) {
  const Error e = resolve_error({}, {{"udp-steer", "session"}});
  EXPECT_EQ(e.call, "invalid udp-steer");
  EXPECT_NE(e.context.find("udp-session-key"), std::string::npos) << e.context;
}

TEST(ServeConfig, HttpDoesNotServeUdp) {
  const Error e = resolve_error({}, {{"service", "http"}, {"listen", "udp://127.0.0.1:0"}});
  EXPECT_EQ(e.call, "invalid service");
  EXPECT_NE(e.context.find("tcp://"), std::string::npos) << e.context;
  EXPECT_TRUE(resolve_serve_config({}, {{"service", "echo"}, {"listen", "udp://127.0.0.1:0"}}).has_value());
}

TEST(SessionKey, ParsesAndPrintsOffsetAndLength) {
  auto key = parse_session_key("65495:32");
  ASSERT_TRUE(key.has_value()) << key.error().message();
  EXPECT_EQ(key->offset, 65495u);
  EXPECT_EQ(key->length, 32u);
  EXPECT_EQ(session_key_text(*key), "65495:32");
  EXPECT_FALSE(parse_session_key("65496:32").has_value());     // ends past the largest payload
  EXPECT_FALSE(parse_session_key("4294967295:1").has_value());  // no wrap-around past the check
  EXPECT_EQ(udp_steer_name(*parse_udp_steer("session")), std::string("session"));
}

// --- read_config_file --------------------------------------------------------------------

TEST(ReadConfigFile, ValidFile) {
  TempFile file(
      "listen = [\"tcp://127.0.0.1:7000\", \"tcp://[::1]:7001\"]\n"
      "workers = 4\n"
      "mode = \"thread\"\n"
      "service = \"echo\"\n"
      "idle-timeout = \"30s\"\n"
      "drain-timeout = 2\n"
      "message = 'w={worker}\\n'\n"
      "admin = \"off\"\n");
  auto settings = read_config_file(file.path());
  ASSERT_TRUE(settings.has_value()) << settings.error().message();
  EXPECT_EQ(settings->size(), 9u);
  EXPECT_EQ(values_of(*settings, "listen"), (std::vector<std::string>{"tcp://127.0.0.1:7000", "tcp://[::1]:7001"}));
  EXPECT_EQ(values_of(*settings, "workers"), std::vector<std::string>{"4"});
  EXPECT_EQ(values_of(*settings, "mode"), std::vector<std::string>{"thread"});
  EXPECT_EQ(values_of(*settings, "idle-timeout"), std::vector<std::string>{"30s"});
  EXPECT_EQ(values_of(*settings, "drain-timeout"), std::vector<std::string>{"2"});
  EXPECT_EQ(values_of(*settings, "message"), std::vector<std::string>{"w={worker}\\n"});  // literal string

  auto config = resolve_serve_config(*settings, {});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(urls(*config), (std::vector<std::string>{"tcp://127.0.0.1:7000", "tcp://[::1]:7001"}));
  EXPECT_EQ(config->workers, 4);
  EXPECT_EQ(config->mode, WorkerMode::thread);
  EXPECT_EQ(config->service, ServiceKind::echo);
  EXPECT_EQ(config->idle_timeout, milliseconds(30'000));
  EXPECT_EQ(config->drain_timeout, milliseconds(2'000));
  EXPECT_EQ(config->message, "w={worker}\n");
  EXPECT_FALSE(config->admin.has_value());
}

TEST(ReadConfigFile, ListenAsAString) {
  TempFile file("listen = \"tcp://127.0.0.1:7000\"\n");
  auto settings = read_config_file(file.path());
  ASSERT_TRUE(settings.has_value()) << settings.error().message();
  ASSERT_EQ(settings->size(), 1u);
  EXPECT_EQ((*settings)[0].key, "listen");
  EXPECT_EQ((*settings)[0].value, "tcp://127.0.0.1:7000");
}

TEST(ReadConfigFile, EmptyFileHasNoSettings) {
  TempFile file("# nothing\n");
  auto settings = read_config_file(file.path());
  ASSERT_TRUE(settings.has_value()) << settings.error().message();
  EXPECT_TRUE(settings->empty());
}

TEST(ReadConfigFile, FileThenFlagsThroughTheWholePath) {
  TempFile file("listen = [\"tcp://127.0.0.1:7000\", \"tcp://127.0.0.1:7001\"]\nworkers = 2\nbacklog = 10\n");
  auto settings = read_config_file(file.path());
  ASSERT_TRUE(settings.has_value()) << settings.error().message();
  auto config = resolve_serve_config(*settings, {{"listen", "tcp://127.0.0.1:9000"}, {"workers", "5"}});
  ASSERT_TRUE(config.has_value()) << config.error().message();
  EXPECT_EQ(urls(*config), std::vector<std::string>{"tcp://127.0.0.1:9000"});
  EXPECT_EQ(config->workers, 5);
  EXPECT_EQ(config->backlog, 10);
}

TEST(ReadConfigFile, InvalidSyntaxNamesFileAndLine) {
  TempFile file("workers = 4\nmode = \"thread\n");  // unterminated string on line 2
  auto settings = read_config_file(file.path());
  ASSERT_FALSE(settings.has_value());
  EXPECT_EQ(settings.error().call, "invalid config file");
  EXPECT_EQ(settings.error().code, 0);
  EXPECT_TRUE(settings.error().context.starts_with(file.path() + ":2:")) << settings.error().context;
}

TEST(ReadConfigFile, WrongTypesAreErrors) {
  for (const char* text : {"workers = [1, 2]\n", "listen = [1]\n", "listen = [[\"tcp://127.0.0.1:1\"]]\n",
                           "workers = 1979-05-27\n", "[server]\nworkers = 2\n", "admin = { host = \"x\" }\n"}) {
    SCOPED_TRACE(text);
    TempFile file(text);
    auto settings = read_config_file(file.path());
    ASSERT_FALSE(settings.has_value());
    EXPECT_EQ(settings.error().call, "invalid config file");
    EXPECT_TRUE(settings.error().context.starts_with(file.path())) << settings.error().context;
  }
}

// Booleans (pin-workers) read as "true"/"false"; integers keep their digits (0 and 1
// included) and are never read as booleans.
TEST(ReadConfigFile, BooleansAndIntegersKeepTheirOwnText) {
  TempFile file("pin-workers = true\nworkers = 1\nbacklog = 0\nmax-conns = 7\n");
  auto settings = read_config_file(file.path());
  ASSERT_TRUE(settings.has_value()) << settings.error().message();
  EXPECT_EQ(values_of(*settings, "pin-workers"), std::vector<std::string>{"true"});
  EXPECT_EQ(values_of(*settings, "workers"), std::vector<std::string>{"1"});
  EXPECT_EQ(values_of(*settings, "backlog"), std::vector<std::string>{"0"});
  EXPECT_EQ(values_of(*settings, "max-conns"), std::vector<std::string>{"7"});
}

TEST(ReadConfigFile, BooleanForANumericSettingFailsResolution) {
  TempFile file("workers = true\n");
  auto settings = read_config_file(file.path());
  if (!settings) return;  // rejected by type: fine too
  const Error e = resolve_error(*settings, {});
  EXPECT_EQ(e.call, "invalid workers");
}

TEST(ReadConfigFile, UnknownKeyFailsResolution) {
  TempFile file("workers = 2\ncolour = \"blue\"\n");
  auto settings = read_config_file(file.path());
  if (!settings) {
    EXPECT_NE(settings.error().message().find("colour"), std::string::npos);
    return;
  }
  const Error e = resolve_error(*settings, {});
  EXPECT_EQ(e.call, "unknown setting");
  EXPECT_NE(e.context.find("colour"), std::string::npos);
}

// serve_config.h: "Reads a TOML file into settings; unknown keys and wrong types are errors."
TEST(ReadConfigFile, UnknownKeyIsAnErrorOfTheFile) {
  TempFile file("workers = 2\ncolour = \"blue\"\n");
  auto settings = read_config_file(file.path());
  ASSERT_FALSE(settings.has_value()) << "read_config_file accepted the unknown key 'colour'";
  EXPECT_NE(settings.error().message().find(file.path()), std::string::npos) << settings.error().message();
  EXPECT_NE(settings.error().message().find("colour"), std::string::npos) << settings.error().message();
}

TEST(ReadConfigFile, MissingFile) {
  const std::string path = ::testing::TempDir() + "herdless_no_such_dir/none.toml";
  auto settings = read_config_file(path);
  ASSERT_FALSE(settings.has_value());
  EXPECT_EQ(settings.error().call, "cannot read config file");
  EXPECT_EQ(settings.error().context, path);
  EXPECT_EQ(settings.error().code, ENOENT);
}

// --- parse_duration ----------------------------------------------------------------------

TEST(ParseDuration, UnitsAndPlainSeconds) {
  const std::pair<const char*, long long> cases[] = {
      {"500ms", 500}, {"60s", 60'000}, {"2m", 120'000}, {"30", 30'000}, {"1.5s", 1'500},
      {"0.25", 250},  {"0", 0},        {"0ms", 0},      {"1ms", 1},     {"0.5m", 30'000},
  };
  for (const auto& [text, ms] : cases) {
    auto d = parse_duration(text);
    ASSERT_TRUE(d.has_value()) << text << ": " << d.error().message();
    EXPECT_EQ(d->count(), ms) << text;
  }
}

TEST(ParseDuration, RejectsMalformedText) {
  for (const char* bad : {"", "ms", "s", "-1", "-5ms", "5h", "5 s", " 5s", "5S", "5sec", "5ms5", "1,5s", "abc"}) {
    auto d = parse_duration(bad);
    ASSERT_FALSE(d.has_value()) << "'" << bad << "' parsed as " << d->count() << "ms";
    EXPECT_EQ(d.error().code, 0);
    EXPECT_EQ(d.error().context, bad);
  }
}

// "inf", "nan" and values beyond the range of milliseconds must not reach the
// double -> long long conversion (undefined behaviour; on x86-64 it yields INT64_MIN).
TEST(ParseDuration, RejectsNonFiniteAndOverflowingValues) {
  for (const char* bad : {"inf", "infs", "nan", "nanms", "1e300", "1e300ms"}) {
    auto d = parse_duration(bad);
    EXPECT_FALSE(d.has_value()) << "'" << bad << "' parsed as " << d->count() << "ms";
  }
}

// --- message helpers ---------------------------------------------------------------------

TEST(ExpandEscapes, KnownEscapes) {
  EXPECT_EQ(expand_escapes("hello\\n"), "hello\n");
  EXPECT_EQ(expand_escapes("a\\r\\nb\\tc"), "a\r\nb\tc");
  EXPECT_EQ(expand_escapes("back\\\\slash"), "back\\slash");
  EXPECT_EQ(expand_escapes("\\\\n"), "\\n");  // an escaped backslash, then a plain n
  EXPECT_EQ(expand_escapes(""), "");
  EXPECT_EQ(expand_escapes("plain"), "plain");
}

TEST(ExpandEscapes, UnknownEscapesAndTrailingBackslashAreKept) {
  EXPECT_EQ(expand_escapes("\\x41"), "\\x41");
  EXPECT_EQ(expand_escapes("end\\"), "end\\");
  EXPECT_EQ(expand_escapes("{worker}\\n"), "{worker}\n");
}

TEST(ExpandWorker, ReplacesEveryToken) {
  EXPECT_EQ(expand_worker("w={worker}", 3), "w=3");
  EXPECT_EQ(expand_worker("{worker}{worker}", 12), "1212");
  EXPECT_EQ(expand_worker("{worker} of {worker}\n", 0), "0 of 0\n");
  EXPECT_EQ(expand_worker("no token", 5), "no token");
  EXPECT_EQ(expand_worker("{work}{worker", 5), "{work}{worker");
  EXPECT_EQ(expand_worker("{{worker}}", 7), "{7}");
  EXPECT_EQ(expand_worker("", 1), "");
  EXPECT_EQ(expand_worker("{worker}", 1023), "1023");
}

}  // namespace
}  // namespace herdless
