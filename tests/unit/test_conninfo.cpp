#include <gtest/gtest.h>

#include "conninfo.h"
#include "error.h"

using namespace pgmosaic;

TEST(ConnInfo, SplitsPgmosaicKeysFromLibpqKeys)
{
    auto c = ParseConnectionString("dbname=gis host=localhost mosaic=landsat port=5433");
    EXPECT_EQ(c.conninfo, "dbname=gis host=localhost port=5433");
    EXPECT_EQ(c.Get("mosaic"), "landsat");
}

TEST(ConnInfo, KeysAreCaseInsensitiveAndValuesMayBeQuoted)
{
    auto c = ParseConnectionString("MOSAIC='my mosaic' dbname = 'a b' password='it\\'s'");
    EXPECT_EQ(c.Get("mosaic"), "my mosaic");
    EXPECT_EQ(c.conninfo, "dbname='a b' password='it\\'s'");
}

TEST(ConnInfo, ReadOptionsAreTakenOut)
{
    auto c = ParseConnectionString(
        "dbname=gis mosaic=m method=max bands=3,2,1 resampling=bilinear missing=skip "
        "num_threads=2");
    EXPECT_EQ(c.conninfo, "dbname=gis");
    EXPECT_EQ(c.Get("method"), "max");
    EXPECT_EQ(c.Get("bands"), "3,2,1");
    EXPECT_EQ(c.Get("resampling"), "bilinear");
    EXPECT_EQ(c.Get("missing"), "skip");
    EXPECT_EQ(c.Get("num_threads"), "2");
}

TEST(ConnInfo, EmptyStringGivesNoMosaic)
{
    auto c = ParseConnectionString("   ");
    EXPECT_EQ(c.conninfo, "");
    EXPECT_EQ(c.Get("mosaic"), "");
}

TEST(ConnInfo, MalformedStringsAreRejectedWithTheirProblem)
{
    EXPECT_THROW(
        {
            try
            {
                ParseConnectionString("dbname='gis");
            }
            catch (const Error& e)
            {
                EXPECT_STREQ(e.what(), "malformed PGMOSAIC connection string: unterminated "
                                       "quoted value for \"dbname\"");
                EXPECT_EQ(e.kind(), ErrorKind::InvalidParameter);
                throw;
            }
        },
        Error);
    EXPECT_THROW(ParseConnectionString("dbname"), Error);
    EXPECT_THROW(ParseConnectionString("=x"), Error);
    EXPECT_THROW(ParseConnectionString("mosaic="), Error);
}

TEST(ConnInfo, CatalogQueryKeysAreTakenOut)
{
    auto c = ParseConnectionString(
        "dbname=gis mosaic=m where='cloud_cover < 10' time=2020-01-01/2020-12-31 "
        "sort=newest ids=1,2");
    EXPECT_EQ(c.conninfo, "dbname=gis");
    EXPECT_EQ(c.Get("where"), "cloud_cover < 10");
    EXPECT_EQ(c.Get("time"), "2020-01-01/2020-12-31");
    EXPECT_EQ(c.Get("sort"), "newest");
    EXPECT_EQ(c.Get("ids"), "1,2");
}

TEST(ConnInfo, PrefixIsCaseInsensitiveAndStrict)
{
    EXPECT_TRUE(HasConnectionPrefix("PGMOSAIC:dbname=x"));
    EXPECT_TRUE(HasConnectionPrefix("pgmosaic:"));
    EXPECT_FALSE(HasConnectionPrefix("PGMOSAI"));
    EXPECT_FALSE(HasConnectionPrefix("PG:dbname=x"));
    EXPECT_FALSE(HasConnectionPrefix(nullptr));
}

TEST(ConnInfo, PathFormNamesTheMosaicLast)
{
    EXPECT_TRUE(HasPathPrefix("/vsipgmosaic/dbname=x/m"));
    EXPECT_TRUE(HasPathPrefix("/VSIPGMOSAIC/"));
    EXPECT_FALSE(HasPathPrefix("/vsimem/x"));
    EXPECT_EQ(ConnectionTextOf("PGMOSAIC:dbname=x mosaic=m"), "dbname=x mosaic=m");
    // A socket directory in host= keeps its slashes: the mosaic is after the last one.
    const ConnectionString c = ParseConnectionString(
        ConnectionTextOf("/vsipgmosaic/host=/var/run/postgresql dbname=gis/ortho 2020"));
    EXPECT_EQ(c.Get("mosaic"), "ortho 2020");
    EXPECT_EQ(c.conninfo, "host=/var/run/postgresql dbname=gis");
    for (const char* bad : {"/vsipgmosaic/dbname=x", "/vsipgmosaic/dbname=x/", "/vsimem/a/b"})
        EXPECT_THROW(ConnectionTextOf(bad), Error) << bad;
}

TEST(ConnInfo, QuotingRoundTrips)
{
    for (std::string v : {"plain", "with space", "quote'd", "back\\slash", ""})
    {
        auto c = ParseConnectionString("mosaic=x application_name=" + QuoteConnValue(v));
        auto again = ParseConnectionString(c.conninfo);
        EXPECT_EQ(again.conninfo, c.conninfo) << v;
    }
    EXPECT_EQ(QuoteConnValue("a b"), "'a b'");
    EXPECT_EQ(QuoteConnValue(""), "''");
}

TEST(ConnInfo, RedactionHidesThePassword)
{
    EXPECT_EQ(RedactConninfo("host=h password=secret dbname=gis"),
              "host=h password=*** dbname=gis");
    EXPECT_EQ(RedactConninfo("password='se cret' mosaic=m"), "password=*** mosaic=m");
}
