// ListenAddress parsing: strict numeric hosts, ports 0..65535, tcp:// and udp:// schemes, and
// url()/host_port() formatting that parses back to the same address.
#include "herdless/address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace herdless {
namespace {

TEST(ParseListenUrl, Ipv4) {
  auto a = parse_listen_url("tcp://127.0.0.1:10013");
  ASSERT_TRUE(a.has_value()) << a.error().message();
  EXPECT_EQ(a->transport, Transport::tcp);
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 10013);
  EXPECT_EQ(a->length, sizeof(sockaddr_in));
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&a->storage);
  EXPECT_EQ(ntohl(sin->sin_addr.s_addr), 0x7f000001u);
  EXPECT_EQ(a->url(), "tcp://127.0.0.1:10013");
  EXPECT_EQ(a->host_port(), "127.0.0.1:10013");
}

TEST(ParseListenUrl, Ipv6InBrackets) {
  auto a = parse_listen_url("tcp://[::1]:80");
  ASSERT_TRUE(a.has_value()) << a.error().message();
  EXPECT_EQ(a->family(), AF_INET6);
  EXPECT_EQ(a->port(), 80);
  EXPECT_EQ(a->length, sizeof(sockaddr_in6));
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a->storage);
  in6_addr loopback = IN6ADDR_LOOPBACK_INIT;
  EXPECT_EQ(0, std::memcmp(&sin6->sin6_addr, &loopback, sizeof loopback));
  EXPECT_EQ(a->url(), "tcp://[::1]:80");
  EXPECT_EQ(a->host_port(), "[::1]:80");
}

TEST(ParseListenUrl, Ipv6AnyAndLongForm) {
  auto any = parse_listen_url("tcp://[::]:9");
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->url(), "tcp://[::]:9");
  // inet_ntop prints the canonical short form.
  auto full = parse_listen_url("tcp://[2001:db8:0:0:0:0:0:1]:443");
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->url(), "tcp://[2001:db8::1]:443");
}

TEST(ParseListenUrl, PortZeroAndMaximum) {
  auto zero = parse_listen_url("tcp://0.0.0.0:0");
  ASSERT_TRUE(zero.has_value());
  EXPECT_EQ(zero->port(), 0);
  auto max = parse_listen_url("tcp://0.0.0.0:65535");
  ASSERT_TRUE(max.has_value());
  EXPECT_EQ(max->port(), 65535);
}

TEST(ParseListenUrl, UdpScheme) {
  auto a = parse_listen_url("udp://127.0.0.1:53");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->transport, Transport::udp);
  EXPECT_EQ(a->url(), "udp://127.0.0.1:53");
  EXPECT_EQ(a->host_port(), "127.0.0.1:53");
}

TEST(ParseListenUrl, RejectsBadInputWithTheUrlAsContext) {
  for (const char* bad : {
           "tcp://127.0.0.1:65536",    // port too large
           "tcp://127.0.0.1:99999999999",  // overflows
           "tcp://127.0.0.1:",         // empty port
           "tcp://127.0.0.1",          // no port
           "tcp://127.0.0.1:-1",       // negative
           "tcp://127.0.0.1:+80",      // sign
           "tcp://127.0.0.1:80 ",      // trailing space
           "tcp://127.0.0.1:8a",       // trailing garbage
           "tcp://localhost:80",       // hostnames are rejected
           "tcp://example.com:80",
           "tcp://1.2.3:80",           // not a full dotted quad
           "tcp://256.0.0.1:80",
           "tcp://::1:80",             // IPv6 without brackets
           "tcp://[::1]",              // IPv6 without port
           "tcp://[::1]:",             // IPv6 empty port
           "tcp://[::1]80",            // missing colon after bracket
           "tcp://[::1:80",            // unclosed bracket
           "tcp://[127.0.0.1]:80",     // IPv4 in brackets
           "tcp://[nonsense]:80",
           "tcp://",
           "127.0.0.1:80",             // missing scheme
           "http://127.0.0.1:80",      // unknown scheme
           "TCP://127.0.0.1:80",       // schemes are lower case
           "tcp:/127.0.0.1:80",
           "",
           "garbage",
       }) {
    auto a = parse_listen_url(bad);
    ASSERT_FALSE(a.has_value()) << "accepted '" << bad << "' as " << a->url();
    EXPECT_EQ(a.error().code, 0) << bad;
    EXPECT_EQ(a.error().context, bad);
    EXPECT_FALSE(a.error().call.empty()) << bad;
  }
}

TEST(ParseListenUrl, MissingSchemeNamesTheWantedForm) {
  auto a = parse_listen_url("127.0.0.1:80");
  ASSERT_FALSE(a.has_value());
  EXPECT_NE(a.error().message().find("tcp://HOST:PORT"), std::string::npos) << a.error().message();
}

TEST(ParseHostPort, AcceptsNumericHostsAsTcp) {
  auto v4 = parse_host_port("127.0.0.1:10014");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->transport, Transport::tcp);
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->port(), 10014);
  EXPECT_EQ(v4->url(), "tcp://127.0.0.1:10014");

  auto v6 = parse_host_port("[::1]:0");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->port(), 0);
  EXPECT_EQ(v6->host_port(), "[::1]:0");
}

TEST(ParseHostPort, RejectsSchemeHostnamesAndBadPorts) {
  for (const char* bad : {"tcp://127.0.0.1:80", "localhost:80", "127.0.0.1:65536", "127.0.0.1",
                          ":80", "[::1]", "", "127.0.0.1:80:80"}) {
    auto a = parse_host_port(bad);
    ASSERT_FALSE(a.has_value()) << "accepted '" << bad << "'";
    EXPECT_EQ(a.error().code, 0);
    EXPECT_EQ(a.error().context, bad);
  }
}

TEST(ListenAddress, UrlRoundTrips) {
  for (const char* url : {"tcp://127.0.0.1:10013", "tcp://0.0.0.0:0", "udp://10.1.2.3:65535",
                          "tcp://[::1]:80", "udp://[fe80::1]:1", "tcp://[::]:0"}) {
    auto a = parse_listen_url(url);
    ASSERT_TRUE(a.has_value()) << url;
    EXPECT_EQ(a->url(), url);
    auto again = parse_listen_url(a->url());
    ASSERT_TRUE(again.has_value()) << url;
    EXPECT_EQ(*again, *a);
    EXPECT_EQ(again->length, a->length);
    EXPECT_EQ(0, std::memcmp(&again->storage, &a->storage, a->length)) << url;
    // host_port() parses back through parse_host_port to the same socket address.
    auto hp = parse_host_port(a->host_port());
    ASSERT_TRUE(hp.has_value()) << url;
    EXPECT_EQ(0, std::memcmp(&hp->storage, &a->storage, a->length)) << url;
  }
}

TEST(ListenAddress, EqualityDistinguishesTransportHostAndPort) {
  auto a = *parse_listen_url("tcp://127.0.0.1:80");
  EXPECT_EQ(a, *parse_listen_url("tcp://127.0.0.1:80"));
  EXPECT_NE(a, *parse_listen_url("udp://127.0.0.1:80"));
  EXPECT_NE(a, *parse_listen_url("tcp://127.0.0.2:80"));
  EXPECT_NE(a, *parse_listen_url("tcp://127.0.0.1:81"));
}

TEST(ListenAddress, SetPortRewritesBothFamilies) {
  auto v4 = *parse_listen_url("tcp://127.0.0.1:0");
  v4.set_port(4242);
  EXPECT_EQ(v4.port(), 4242);
  EXPECT_EQ(v4.url(), "tcp://127.0.0.1:4242");
  auto v6 = *parse_listen_url("tcp://[::1]:0");
  v6.set_port(65535);
  EXPECT_EQ(v6.url(), "tcp://[::1]:65535");
}

TEST(ListenAddress, FromSockaddrKeepsAddressAndTransport) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(8080);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_storage storage{};
  std::memcpy(&storage, &sin, sizeof sin);
  const ListenAddress a = address_from_sockaddr(storage, sizeof sin, Transport::udp);
  EXPECT_EQ(a.url(), "udp://127.0.0.1:8080");
  EXPECT_EQ(a.length, sizeof sin);
}

}  // namespace
}  // namespace herdless
