#include <gtest/gtest.h>

#include <random>
#include <string>

#include "error.h"
#include "types/pathref.h"

using namespace pgmosaic;

namespace
{

// The error message for an invalid reference, or "valid: <normalised>".
std::string Outcome(const std::string& s)
{
    try
    {
        return "valid: " + NormalizePathRef(s);
    }
    catch (const Error& e)
    {
        EXPECT_EQ(e.kind(), ErrorKind::InvalidParameter);
        return e.what();
    }
}

bool Mentions(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

} // namespace

TEST(PathRef, LocalPathsAreCollapsed)
{
    EXPECT_EQ(NormalizePathRef("/data/a.tif"), "/data/a.tif");
    EXPECT_EQ(NormalizePathRef("//data///x/./a.tif"), "/data/x/a.tif");
    EXPECT_EQ(NormalizePathRef("/data/dir/"), "/data/dir");
    EXPECT_EQ(NormalizePathRef("/"), "/");
    EXPECT_EQ(NormalizePathRef("/data/with space/é.tif"), "/data/with space/é.tif");
    EXPECT_EQ(SchemeOf("/data/a.tif"), PathScheme::Local);
}

TEST(PathRef, RootReferences)
{
    EXPECT_EQ(NormalizePathRef("@nas1/2020//a.tif"), "@nas1/2020/a.tif");
    EXPECT_EQ(SchemeOf("@nas1/2020/a.tif"), PathScheme::Root);
    EXPECT_EQ(RootNameOf("@nas1/2020/a.tif"), "nas1");
    EXPECT_EQ(RelativePartOf("@nas1/2020/a.tif"), "2020/a.tif");
    EXPECT_EQ(RootNameOf("/data/a.tif"), "");
    EXPECT_EQ(RelativePartOf("/data/a.tif"), "");
    EXPECT_TRUE(Mentions(Outcome("@nas1"), "needs a path after the root name"));
    EXPECT_TRUE(Mentions(Outcome("@nas1/"), "needs a path after the root name"));
    EXPECT_TRUE(Mentions(Outcome("@bad root/a.tif"), "a root name is made of"));
    EXPECT_TRUE(Mentions(Outcome("@/a.tif"), "a root name is made of"));
}

TEST(PathRef, UrlsAndObjectStoresGetTheirVsiForm)
{
    EXPECT_EQ(NormalizePathRef("https://Data.Example.COM/a/B.tif?x=1"),
              "/vsicurl/https://data.example.com/a/B.tif?x=1");
    EXPECT_EQ(NormalizePathRef("HTTP://h:8080/a.tif"), "/vsicurl/http://h:8080/a.tif");
    EXPECT_EQ(NormalizePathRef("/vsicurl/https://h/a.tif"), "/vsicurl/https://h/a.tif");
    EXPECT_EQ(NormalizePathRef("s3://bucket/dir/a.tif"), "/vsis3/bucket/dir/a.tif");
    EXPECT_EQ(NormalizePathRef("gs://bucket/a.tif"), "/vsigs/bucket/a.tif");
    EXPECT_EQ(NormalizePathRef("/vsis3/bucket/"), "/vsis3/bucket");
    EXPECT_EQ(NormalizePathRef("/vsiaz/container/a.tif"), "/vsiaz/container/a.tif");
    EXPECT_EQ(SchemeOf("/vsicurl/https://h/a.tif"), PathScheme::VsiCurl);
    EXPECT_EQ(SchemeOf("/vsis3/b/a.tif"), PathScheme::VsiS3);
    EXPECT_EQ(SchemeOf("/vsigs/b/a.tif"), PathScheme::VsiGs);
    EXPECT_EQ(SchemeOf("/vsiaz/b/a.tif"), PathScheme::VsiAz);
    EXPECT_STREQ(PathSchemeName(PathScheme::VsiS3), "vsis3");
}

TEST(PathRef, RefusesWhatItMustWithTheValueNamed)
{
    const std::string nul("/data/a\0b.tif", 13);
    EXPECT_TRUE(Mentions(Outcome(nul), "NUL byte"));
    EXPECT_TRUE(Mentions(Outcome(nul), "\"/data/a\\x00b.tif\""));
    EXPECT_TRUE(Mentions(Outcome("/data/a\nb.tif"), "control character"));
    EXPECT_TRUE(Mentions(Outcome(""), "empty"));
    EXPECT_TRUE(Mentions(Outcome("/data/../etc/passwd"), "\"..\" segments"));
    EXPECT_TRUE(Mentions(Outcome("/data/../etc/passwd"), "\"/data/../etc/passwd\""));
    EXPECT_TRUE(Mentions(Outcome("@nas/../x.tif"), "\"..\" segments"));
    EXPECT_TRUE(Mentions(Outcome("https://h/a/../b.tif"), "\"..\" segments"));
    EXPECT_TRUE(Mentions(Outcome("https://h/a/%2E%2e/b.tif"), "\"..\" segments"));
    EXPECT_TRUE(Mentions(Outcome("s3://b/a/../x.tif"), "\"..\" segments"));
    EXPECT_TRUE(Mentions(Outcome("s3://b//x.tif"), "empty and \".\" segments"));
    EXPECT_TRUE(Mentions(Outcome("s3://"), "bucket or container"));
    EXPECT_TRUE(Mentions(Outcome("relative/a.tif"), "relative paths are not allowed"));
    EXPECT_TRUE(Mentions(Outcome("a.tif"), "relative paths are not allowed"));
    EXPECT_TRUE(Mentions(Outcome("C:\\data\\a.tif"), "relative paths are not allowed"));
    EXPECT_TRUE(Mentions(Outcome("ftp://h/a.tif"), "unknown scheme \"ftp\""));
    EXPECT_TRUE(Mentions(Outcome("file:///data/a.tif"), "unknown scheme \"file\""));
    EXPECT_TRUE(Mentions(Outcome("/vsizip//data/a.zip/a.tif"), "\"/vsizip/\" is not supported"));
    EXPECT_TRUE(Mentions(Outcome("/vsimem/a.tif"), "\"/vsimem/\" is not supported"));
    EXPECT_TRUE(Mentions(Outcome("//vsis3/b/a.tif"), "cannot begin with /vsi"));
    EXPECT_TRUE(Mentions(Outcome("/vsicurl/ftp://h/a.tif"), "http:// or https://"));
    EXPECT_TRUE(Mentions(Outcome("https:///a.tif"), "no host"));
    EXPECT_TRUE(Mentions(Outcome("https://user:secret@h/a.tif"), "credentials"));
}

TEST(PathRef, LongValuesAreShortenedInMessages)
{
    const std::string msg = Outcome("rel/" + std::string(1000, 'x'));
    EXPECT_LT(msg.size(), 400u);
    EXPECT_TRUE(Mentions(msg, "...\""));
}

TEST(PathRef, ResolvingARootReference)
{
    EXPECT_EQ(ResolveRootRef("@nas1/2020/a.tif", "/mnt/nas1"), "/mnt/nas1/2020/a.tif");
    EXPECT_EQ(ResolveRootRef("@nas1/a.tif", "/"), "/a.tif");
    EXPECT_EQ(ResolveRootRef("@s3/a/b.tif", "/vsis3/bucket"), "/vsis3/bucket/a/b.tif");
    EXPECT_EQ(ResolveRootRef("@web/a.tif", "/vsicurl/https://h/data"),
              "/vsicurl/https://h/data/a.tif");
    EXPECT_THROW(ResolveRootRef("/data/a.tif", "/mnt"), Error);
    EXPECT_THROW(ResolveRootRef("@a/x.tif", "@b/y"), Error);
}

TEST(PathRef, PrefixesMatchWholeSegments)
{
    EXPECT_TRUE(IsPathUnder("/data/a.tif", "/data"));
    EXPECT_TRUE(IsPathUnder("/data", "/data"));
    EXPECT_TRUE(IsPathUnder("/data/a.tif", "/"));
    EXPECT_FALSE(IsPathUnder("/database/a.tif", "/data"));
    EXPECT_TRUE(IsPathUnder("/vsis3/b/k/a.tif", "/vsis3/b"));
    EXPECT_FALSE(IsPathUnder("/vsis3/bb/a.tif", "/vsis3/b"));
}

TEST(PathRef, RootNames)
{
    EXPECT_TRUE(IsValidRootName("nas_1-a"));
    EXPECT_FALSE(IsValidRootName(""));
    EXPECT_FALSE(IsValidRootName("a/b"));
    EXPECT_FALSE(IsValidRootName("a.b"));
}

// Normalising is idempotent, and whatever it accepts contains no "..", no control character and
// no relative path: checked on random strings over an alphabet that provokes every rule.
TEST(PathRef, NormalisingRandomStringsIsIdempotentAndSafe)
{
    std::mt19937 rng(42);
    const std::vector<std::string> pieces = {
        "/",     "//", ".",   "..", "a", "b.tif", "@r", "@r/", "/vsis3/", "/vsicurl/", "https://",
        "s3://", "H",  "%2e", "?",  "#", "\t",    ":",  "@",   "/vsigs/", "x y"};
    int accepted = 0;
    for (int i = 0; i < 20000; ++i)
    {
        std::string s;
        const int n = 1 + static_cast<int>(rng() % 6);
        for (int j = 0; j < n; ++j)
            s += pieces[rng() % pieces.size()];
        std::string norm;
        try
        {
            norm = NormalizePathRef(s);
        }
        catch (const Error&)
        {
            continue;
        }
        ++accepted;
        ASSERT_EQ(NormalizePathRef(norm), norm) << "input " << s;
        ASSERT_EQ(norm.find("/../"), std::string::npos) << "input " << s;
        ASSERT_NE(norm.substr(norm.size() >= 3 ? norm.size() - 3 : 0), "/..") << "input " << s;
        ASSERT_EQ(norm.find('\t'), std::string::npos) << "input " << s;
        ASSERT_TRUE(norm[0] == '/' || norm[0] == '@') << "input " << s;
    }
    EXPECT_GT(accepted, 1000);
}
