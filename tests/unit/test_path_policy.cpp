#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "error.h"
#include "path_policy.h"

using namespace pgmosaic;
namespace fs = std::filesystem;

class PathPolicyTest : public ::testing::Test
{
protected:
    void SetUp() override
    {
        m_root = fs::temp_directory_path() / ("pgmosaic_policy_" + std::to_string(::getpid()));
        fs::create_directories(m_root / "allowed" / "sub");
        fs::create_directories(m_root / "other");
        std::ofstream(m_root / "allowed" / "sub" / "a.tif") << "x";
        std::ofstream(m_root / "other" / "b.tif") << "x";
        fs::create_symlink(m_root / "other" / "b.tif", m_root / "allowed" / "escape.tif");
        m_policy.enabled = true;
        m_policy.allowedRoots = {(m_root / "allowed").string()};
    }
    void TearDown() override { fs::remove_all(m_root); }

    std::string Message(const std::string& path)
    {
        try
        {
            CheckPathAllowed(m_policy, path);
        }
        catch (const Error& e)
        {
            return e.what();
        }
        return "allowed";
    }

    fs::path m_root;
    FileAccessPolicy m_policy;
};

TEST_F(PathPolicyTest, AllowsFilesBelowARoot)
{
    const auto p = (m_root / "allowed" / "sub" / "a.tif").string();
    EXPECT_EQ(CheckPathAllowed(m_policy, p), p);
}

TEST_F(PathPolicyTest, DisabledAccessIsRefused)
{
    m_policy.enabled = false;
    EXPECT_NE(Message((m_root / "allowed" / "sub" / "a.tif").string())
                  .find("backend file access is disabled"),
              std::string::npos);
}

TEST_F(PathPolicyTest, DotDotAndSymlinksAreResolvedBeforeTheCheck)
{
    const auto viaDots = (m_root / "allowed" / ".." / "other" / "b.tif").string();
    EXPECT_NE(Message(viaDots).find("is outside pgmosaic.allowed_roots"), std::string::npos);
    const auto viaLink = (m_root / "allowed" / "escape.tif").string();
    EXPECT_NE(Message(viaLink).find("is outside pgmosaic.allowed_roots"), std::string::npos);
}

TEST_F(PathPolicyTest, APrefixIsNotADirectory)
{
    // ".../allowed" must not admit ".../allowed_evil".
    fs::create_directories(m_root / "allowed_evil");
    std::ofstream(m_root / "allowed_evil" / "c.tif") << "x";
    EXPECT_NE(Message((m_root / "allowed_evil" / "c.tif").string()).find("outside"),
              std::string::npos);
}

TEST_F(PathPolicyTest, BadPathsGetClearErrors)
{
    EXPECT_EQ(Message("relative/a.tif"), "raster path must be absolute: \"relative/a.tif\"");
    EXPECT_EQ(Message((m_root / "allowed" / "missing.tif").string()),
              "raster file not found: " + (m_root / "allowed" / "missing.tif").string());
    EXPECT_NE(Message("/vsicurl/http://example/a.tif").find("virtual file system"),
              std::string::npos);
    m_policy.allowedRoots.clear();
    EXPECT_NE(Message((m_root / "allowed" / "sub" / "a.tif").string())
                  .find("pgmosaic.allowed_roots is empty"),
              std::string::npos);
}

TEST(PathPolicy, RootListIsTrimmed)
{
    auto roots = ParseRootList(" /a, /b/c ,,  ");
    ASSERT_EQ(roots.size(), 2u);
    EXPECT_EQ(roots[0], "/a");
    EXPECT_EQ(roots[1], "/b/c");
}

// Outside the roots, a missing file and an existing one get the same answer (the file system
// is not asked), and a symbolic link leading out is refused without naming its target.
TEST_F(PathPolicyTest, SaysNothingOfWhatIsOutsideTheRoots)
{
    const auto existing = (m_root / "other" / "b.tif").string();
    const auto missing = (m_root / "other" / "none.tif").string();
    EXPECT_EQ(Message(existing), "path " + existing + " is outside pgmosaic.allowed_roots");
    EXPECT_EQ(Message(missing), "path " + missing + " is outside pgmosaic.allowed_roots");
    const auto dotted = (m_root / "allowed" / ".." / "other" / "b.tif").string();
    EXPECT_EQ(Message(dotted), "path " + dotted + " is outside pgmosaic.allowed_roots");
    const std::string escape = Message((m_root / "allowed" / "escape.tif").string());
    EXPECT_NE(escape.find("a symbolic link leads out"), std::string::npos) << escape;
    EXPECT_EQ(escape.find("other"), std::string::npos) << escape;
    // Inside a root, ".." that stays inside is fine.
    const auto inside = (m_root / "allowed" / "sub" / ".." / "sub" / "a.tif").string();
    EXPECT_EQ(CheckPathAllowed(m_policy, inside), (m_root / "allowed" / "sub" / "a.tif").string());
}

// GDAL hears only of the sidecars the policy allows: one linked out of the roots is left out.
TEST_F(PathPolicyTest, ListsOnlyAllowedSidecars)
{
    const auto dir = m_root / "allowed" / "sub";
    std::ofstream(dir / "a.tif.aux.xml") << "<PAMDataset/>";
    std::ofstream(m_root / "other" / "a.tif.ovr") << "x";
    fs::create_symlink(m_root / "other" / "a.tif.ovr", dir / "a.tif.ovr");
    std::ofstream(dir / "unrelated.tif") << "x";
    std::ofstream(dir / "a1.tif") << "x"; // starts like a.tif: no sidecar of it
    std::ofstream(dir / "a_rpc.txt") << "x";
    auto siblings = AllowedSiblingFiles(m_policy, (dir / "a.tif").string());
    std::sort(siblings.begin(), siblings.end());
    EXPECT_EQ(siblings, (std::vector<std::string>{"a.tif", "a.tif.aux.xml", "a_rpc.txt"}));
    EXPECT_TRUE(AllowedSiblingFiles(m_policy, "/vsis3/bucket/a.tif").empty());
}
