// The floor of a local full-resolution read: the time to inflate exactly the compressed blocks
// it needs, with the decoder pgmosaic's block reader uses (libdeflate), on as many threads as
// the read uses. tests/bench/bench_read.py feeds it the DRAD's byte ranges of a workload's
// blocks and prints pgmosaic's read time against it.
//
//   pgmosaic_decode_floor THREADS REPEATS < blocks
//
// Each line of `blocks`: path, byte offset, byte length, decoded size (bytes), blank-separated.
// The compressed bytes are read into memory first (not timed); every block is then inflated once
// per repeat, the threads taking blocks in turn. Prints the median seconds of the repeats and
// the blocks and bytes inflated. Exit code 1 (with a message) when a block does not inflate to
// its size: only DEFLATE blocks are taken.
#include <libdeflate.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace
{

struct Block
{
    std::vector<unsigned char> compressed;
    size_t decoded = 0;
};

std::vector<Block> ReadBlocks(std::istream& in)
{
    std::vector<Block> blocks;
    std::string line;
    while (std::getline(in, line))
    {
        std::istringstream fields(line);
        std::string path;
        unsigned long long offset = 0, length = 0, decoded = 0;
        if (!(fields >> path >> offset >> length >> decoded))
            continue;
        std::ifstream file(path, std::ios::binary);
        Block b;
        b.compressed.resize(length);
        b.decoded = decoded;
        if (!file.seekg(static_cast<std::streamoff>(offset)) ||
            !file.read(reinterpret_cast<char*>(b.compressed.data()),
                       static_cast<std::streamsize>(length)))
        {
            std::fprintf(stderr, "cannot read %llu bytes at %llu of %s\n", length, offset,
                         path.c_str());
            std::exit(1);
        }
        blocks.push_back(std::move(b));
    }
    return blocks;
}

// Inflates every block once on `threads` threads: seconds taken.
double InflateAll(const std::vector<Block>& blocks, int threads, size_t largest)
{
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    auto worker = [&] {
        std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> d(
            libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
        std::vector<unsigned char> out(largest);
        for (size_t i = next++; i < blocks.size(); i = next++)
        {
            size_t produced = 0;
            const Block& b = blocks[i];
            if (libdeflate_zlib_decompress(d.get(), b.compressed.data(), b.compressed.size(),
                                           out.data(), b.decoded, &produced) !=
                    LIBDEFLATE_SUCCESS ||
                produced != b.decoded)
                failed = true;
        }
    };
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t)
        pool.emplace_back(worker);
    worker();
    for (auto& t : pool)
        t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (failed)
    {
        std::fprintf(stderr, "a block did not inflate to its size (not DEFLATE?)\n");
        std::exit(1);
    }
    return s;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 3)
    {
        std::fprintf(stderr, "usage: %s THREADS REPEATS < blocks\n", argv[0]);
        return 2;
    }
    const int threads = std::max(1, std::atoi(argv[1]));
    const int repeats = std::max(1, std::atoi(argv[2]));
    const std::vector<Block> blocks = ReadBlocks(std::cin);
    size_t largest = 0, bytes = 0;
    for (const Block& b : blocks)
    {
        largest = std::max(largest, b.decoded);
        bytes += b.decoded;
    }
    std::vector<double> times;
    for (int r = 0; r < repeats; ++r)
        times.push_back(InflateAll(blocks, threads, largest));
    std::sort(times.begin(), times.end());
    std::printf("%.6f %zu %zu\n", times[times.size() / 2], blocks.size(), bytes);
    return 0;
}
