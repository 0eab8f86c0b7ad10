// `herdless run` settings and the environment a program gets: conventions, stop signals,
// command resolution, run-only and serve-only keys, LISTEN_* / EINHORN_FDS / HERDLESS_*.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

#include "herdless/program_launcher.h"
#include "herdless/serve_config.h"

namespace herdless {
namespace {

bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::ranges::find(env, entry) != env.end();
}

bool has_name(const std::vector<std::string>& env, const std::string& name) {
  return std::ranges::any_of(env, [&](const std::string& e) { return e.starts_with(name + "="); });
}

TEST(ProgramConfig, FdConventions) {
  EXPECT_EQ(parse_fd_conventions("systemd,einhorn").value(), kFdSystemd | kFdEinhorn);
  EXPECT_EQ(parse_fd_conventions("einhorn").value(), unsigned{kFdEinhorn});
  EXPECT_EQ(parse_fd_conventions("none").value(), 0U);
  EXPECT_FALSE(parse_fd_conventions("inetd").has_value());
  EXPECT_FALSE(parse_fd_conventions("systemd,").has_value());
  EXPECT_EQ(fd_conventions_text(kFdSystemd), "systemd");
}

TEST(ProgramConfig, StopSignalByNameOrNumber) {
  EXPECT_EQ(parse_signal("TERM").value(), SIGTERM);
  EXPECT_EQ(parse_signal("SIGQUIT").value(), SIGQUIT);
  EXPECT_EQ(parse_signal("2").value(), SIGINT);
  EXPECT_FALSE(parse_signal("FOO").has_value());
  EXPECT_FALSE(parse_signal("0").has_value());
  EXPECT_FALSE(parse_signal("").has_value());
}

TEST(ProgramConfig, CommandResolution) {
  EXPECT_EQ(resolve_command("/bin/sh").value(), "/bin/sh");
  EXPECT_TRUE(resolve_command("sh").has_value());
  EXPECT_NE(resolve_command("no-such-command-herdless").error().message().find("not found in PATH"), std::string::npos);
  EXPECT_FALSE(resolve_command("/etc/passwd").has_value());  // not executable
  EXPECT_FALSE(resolve_command("/tmp").has_value());         // a directory
  EXPECT_FALSE(resolve_command("").has_value());
}

TEST(ProgramConfig, RunNeedsACommandAndRefusesServeOnlyKeys) {
  EXPECT_FALSE(resolve_config({}, {}, Subcommand::run).has_value());
  auto config = resolve_config({}, {{"command", "gunicorn"}, {"command", "app:app"}, {"stop-signal", "QUIT"},
                                    {"ready-timeout", "2s"}, {"fd-env", "einhorn"}},
                               Subcommand::run);
  ASSERT_TRUE(config.has_value()) << config.error().message();
  ASSERT_TRUE(config->program.has_value());
  EXPECT_EQ(config->program->command, (std::vector<std::string>{"gunicorn", "app:app"}));
  EXPECT_EQ(config->program->stop_signal, SIGQUIT);
  EXPECT_EQ(config->program->ready_timeout.count(), 2000);
  EXPECT_EQ(config->program->conventions, unsigned{kFdEinhorn});
  for (const char* key : {"service", "message", "max-conns", "accept", "idle-timeout", "mode"}) {
    auto refused = resolve_config({}, {{"command", "x"}, {key, "1"}}, Subcommand::run);
    ASSERT_FALSE(refused.has_value()) << key;
    EXPECT_NE(refused.error().message().find("does not apply to herdless run"), std::string::npos) << key;
  }
  EXPECT_FALSE(resolve_config({}, {{"command", "x"}}, Subcommand::serve).has_value());
  EXPECT_FALSE(resolve_config({}, {{"stop-signal", "TERM"}}, Subcommand::serve).has_value());
}

TEST(ProgramConfig, FlagCommandReplacesTheFilesCommand) {
  auto config = resolve_config({{"command", "a"}, {"command", "b"}}, {{"command", "c"}}, Subcommand::run);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->program->command, (std::vector<std::string>{"c"}));
}

TEST(ProgramEnvironment, BothConventionsAndTheSlot) {
  ProgramConfig program;
  program.command = {"srv", "--id={worker}", "{worker}-{worker}"};
  ProgramLaunch launch;
  launch.slot = 2;
  launch.workers = 4;
  launch.listen_fds = {17, 9};
  launch.fd_names = {"tcp-127.0.0.1-80", "udp-127.0.0.1-53"};
  launch.program = &program;
  launch.notify_socket = "@herdless/1/2/1/7";
  std::string stale_fds = "LISTEN_FDS=9", stale_pid = "LISTEN_PID=1", keep = "PATH=/usr/bin", stale_e = "EINHORN_FDS=7";
  char* base[] = {stale_fds.data(), stale_pid.data(), keep.data(), stale_e.data(), nullptr};
  const std::vector<std::string> env = program_environment(launch, 4242, base);
  EXPECT_TRUE(has(env, "PATH=/usr/bin"));
  EXPECT_TRUE(has(env, "LISTEN_FDS=2"));
  EXPECT_TRUE(has(env, "LISTEN_PID=4242"));
  EXPECT_TRUE(has(env, "LISTEN_FDNAMES=tcp-127.0.0.1-80:udp-127.0.0.1-53"));
  EXPECT_TRUE(has(env, "EINHORN_FDS=3 4"));
  EXPECT_TRUE(has(env, "HERDLESS_WORKER=2"));
  EXPECT_TRUE(has(env, "HERDLESS_WORKERS=4"));
  EXPECT_TRUE(has(env, "NOTIFY_SOCKET=@herdless/1/2/1/7"));
  EXPECT_FALSE(has(env, "LISTEN_FDS=9"));
  EXPECT_FALSE(has(env, "EINHORN_FDS=7"));
  EXPECT_EQ(std::ranges::count_if(env, [](const std::string& e) { return e.starts_with("LISTEN_PID="); }), 1);
  EXPECT_EQ(program_argv(launch), (std::vector<std::string>{"srv", "--id=2", "2-2"}));
}

TEST(ProgramEnvironment, OneConventionOnly) {
  ProgramConfig program;
  program.command = {"srv"};
  program.conventions = kFdEinhorn;
  ProgramLaunch launch;
  launch.listen_fds = {5};
  launch.fd_names = {"tcp-0.0.0.0-8000"};
  launch.program = &program;
  char* base[] = {nullptr};
  std::vector<std::string> env = program_environment(launch, 7, base);
  EXPECT_FALSE(has_name(env, "LISTEN_FDS"));
  EXPECT_FALSE(has_name(env, "LISTEN_PID"));
  EXPECT_TRUE(has(env, "EINHORN_FDS=3"));
  program.conventions = kFdSystemd;
  env = program_environment(launch, 7, base);
  EXPECT_FALSE(has_name(env, "EINHORN_FDS"));
  EXPECT_TRUE(has(env, "LISTEN_FDS=1"));
}

}  // namespace
}  // namespace herdless
