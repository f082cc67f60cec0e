// Remote items' pieces that need no server: the recorded header's encoding, network paths, the
// byte store GDAL reads a remote item through (tests/integration/test_remote.py reads real
// servers).
#include <gtest/gtest.h>

#include <cstring>

#include "cpl_vsi.h"
#include "gdal_priv.h"

#include "read/range_fetcher.h"
#include "read/remote_source.h"

using namespace pgmosaic;

TEST(RemoteSource, HeaderRangesRoundTrip)
{
    const std::vector<std::pair<std::uint64_t, std::string>> ranges{
        {0, std::string("II*\0\x08\0\0\0", 8)}, {1ull << 33, "tail"}, {100, ""}};
    const std::string blob = EncodeHeaderRanges(ranges);
    std::vector<std::pair<std::uint64_t, std::string>> back;
    ASSERT_TRUE(DecodeHeaderRanges(blob, back));
    EXPECT_EQ(back, ranges);
}

TEST(RemoteSource, HeaderRangesRefuseGarbage)
{
    std::vector<std::pair<std::uint64_t, std::string>> out;
    EXPECT_FALSE(DecodeHeaderRanges("", out));
    EXPECT_FALSE(DecodeHeaderRanges("II*\0", out));
    std::string blob = EncodeHeaderRanges({{0, "abcdef"}});
    EXPECT_FALSE(DecodeHeaderRanges(blob.substr(0, blob.size() - 1), out)); // truncated
    EXPECT_FALSE(DecodeHeaderRanges(blob + "x", out));                       // a partial range
}

TEST(RemoteSource, NetworkPaths)
{
    for (const char* p : {"/vsicurl/https://h/a.tif", "/vsis3/b/k.tif", "/vsigs/b/k",
                          "/vsiaz/c/k", "/vsiadls/c/k", "/vsioss/b/k", "/vsiswift/c/k"})
        EXPECT_TRUE(IsNetworkPath(p)) << p;
    for (const char* p : {"/data/a.tif", "/vsimem/a.tif", "/vsizip/a.zip/b.tif", "@root/a.tif",
                          "/vsipgmremote/1/a.tif"})
        EXPECT_FALSE(IsNetworkPath(p)) << p;
    EXPECT_EQ(ResolveUrl("/vsicurl/http://127.0.0.1:1/a.tif"), "http://127.0.0.1:1/a.tif");
    EXPECT_EQ(ResolveUrl("/data/a.tif"), "");
}

TEST(RemoteSource, HeldBytesAreMergedAndReadWithoutRequests)
{
    ObjectIdentity id;
    id.size = 1000;
    // Port 1 on loopback: nothing listens, so a read of bytes not held would fail.
    auto o = RemoteObject::Create("/vsicurl/http://127.0.0.1:1/a.tif", id);
    ASSERT_TRUE(o);
    o->Hold(0, std::string(100, 'a'));
    o->MarkHeader();
    o->Hold(200, std::string(50, 'b'));
    o->Hold(250, std::string(50, 'c')); // meets the range before: one range
    o->Hold(150, std::string(60, 'd')); // overlaps it: merged, the newest bytes win
    EXPECT_TRUE(o->Holds(0, 100));
    EXPECT_FALSE(o->Holds(90, 20));
    EXPECT_TRUE(o->Holds(150, 150));
    EXPECT_EQ(o->HeldRanges().size(), 2u);
    char buf[150];
    ASSERT_EQ(o->Read(150, buf, 150), 150u);
    EXPECT_EQ(std::string(buf, 60), std::string(60, 'd'));
    EXPECT_EQ(std::string(buf + 60, 40), std::string(40, 'b'));
    EXPECT_EQ(std::string(buf + 100, 50), std::string(50, 'c'));
    // GDAL reads it under its /vsipgmremote/ name; Stat gives the recorded size.
    VSIStatBufL st;
    ASSERT_EQ(VSIStatL(o->GdalName().c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 1000);
    VSILFILE* f = VSIFOpenL(o->GdalName().c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char two[2];
    ASSERT_EQ(VSIFSeekL(f, 98, SEEK_SET), 0);
    EXPECT_EQ(VSIFReadL(two, 1, 2, f), 2u);
    EXPECT_EQ(std::string(two, 2), "aa");
    // Bytes not held are fetched: here they cannot be, and the read says so.
    CPLPushErrorHandler(CPLQuietErrorHandler);
    EXPECT_EQ(VSIFReadL(buf, 1, 10, f), 0u);
    CPLPopErrorHandler();
    EXPECT_NE(o->LastError().find("cannot read /vsicurl/http://127.0.0.1:1/a.tif"),
              std::string::npos)
        << o->LastError();
    VSIFCloseL(f);
    // Between reads the fetched ranges go, the header stays.
    o->DropFetched();
    EXPECT_TRUE(o->Holds(0, 100));
    EXPECT_FALSE(o->Holds(150, 10));
    const std::string name = o->GdalName();
    o.reset();
    EXPECT_NE(VSIStatL(name.c_str(), &st), 0); // gone with its object
}
