#include "inspect/expression.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <cmath>
#include <cstdlib>

#include "error.h"

namespace pgmosaic
{

struct Expression::Node
{
    enum class Op
    {
        Number,
        Band,
        Neg,
        Not,
        Add,
        Sub,
        Mul,
        Div,
        Lt,
        Le,
        Gt,
        Ge,
        Eq,
        Ne,
        And,
        Or,
        BitAnd,
        BitOr,
        Bit,      // bit(a, b)
        In,       // a in (list)
        Variable, // a named value
    };
    Op op = Op::Number;
    double value = 0; // Number
    int band = 0;     // Band; Variable: its index
    std::vector<double> list; // In
    std::shared_ptr<const Node> a, b;
};

namespace
{

using Node = Expression::Node;
using NodePtr = std::shared_ptr<const Node>;

constexpr size_t kMaxLength = 4096;
constexpr int kMaxDepth = 64;

std::string LowerCase(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

class Parser
{
public:
    Parser(const std::string& s, const std::vector<std::string>& bandNames,
           const std::vector<std::string>& variables)
        : m_s(s), m_variables(variables)
    {
        for (const auto& n : bandNames)
            m_bandNames.push_back(LowerCase(n));
        usedVariables.assign(variables.size(), false);
    }

    NodePtr ParseAll()
    {
        NodePtr n = Or();
        Skip();
        if (m_i != m_s.size())
            Fail("unexpected \"" + m_s.substr(m_i, 10) + "\"");
        return n;
    }
    int maxBand = 0;
    std::vector<int> bands;
    std::vector<bool> usedVariables;

private:
    [[noreturn]] void Fail(const std::string& what) const
    {
        throw Error(ErrorKind::InvalidParameter, "invalid expression \"" + m_s + "\" at " +
                                                     "character " + std::to_string(m_i + 1) + ": " +
                                                     what);
    }
    void Skip()
    {
        while (m_i < m_s.size() && std::isspace(static_cast<unsigned char>(m_s[m_i])))
            ++m_i;
    }
    bool Word(const char* w)
    {
        Skip();
        const size_t n = std::char_traits<char>::length(w);
        if (m_s.compare(m_i, n, w) != 0)
            return false;
        const size_t end = m_i + n;
        if (end < m_s.size() &&
            (std::isalnum(static_cast<unsigned char>(m_s[end])) || m_s[end] == '_'))
            return false;
        m_i = end;
        return true;
    }
    bool Sym(const char* sym)
    {
        Skip();
        const size_t n = std::char_traits<char>::length(sym);
        if (m_s.compare(m_i, n, sym) != 0)
            return false;
        m_i += n;
        return true;
    }
    static NodePtr Make(Node::Op op, NodePtr a, NodePtr b = nullptr)
    {
        auto n = std::make_shared<Node>();
        n->op = op;
        n->a = std::move(a);
        n->b = std::move(b);
        return n;
    }
    struct Depth
    {
        explicit Depth(Parser& p) : m_p(p)
        {
            if (++m_p.m_depth > kMaxDepth)
                m_p.Fail("nested too deeply");
        }
        ~Depth() { --m_p.m_depth; }
        Parser& m_p;
    };

    NodePtr Or()
    {
        Depth d(*this);
        NodePtr n = And();
        while (Word("or"))
            n = Make(Node::Op::Or, n, And());
        return n;
    }
    NodePtr And()
    {
        NodePtr n = Not();
        while (Word("and"))
            n = Make(Node::Op::And, n, Not());
        return n;
    }
    NodePtr Not()
    {
        Depth d(*this);
        if (Word("not"))
            return Make(Node::Op::Not, Not());
        return Compare();
    }
    NodePtr Compare()
    {
        NodePtr n = Bits();
        if (Word("in"))
        {
            if (!Sym("("))
                Fail("expected \"(\" after in");
            auto in = std::make_shared<Node>();
            in->op = Node::Op::In;
            in->a = n;
            do
            {
                Skip();
                const bool negative = Sym("-");
                Skip();
                char* end = nullptr;
                const double v = std::strtod(m_s.c_str() + m_i, &end);
                if (end == m_s.c_str() + m_i || !std::isfinite(v))
                    Fail("expected a number in the list");
                m_i = static_cast<size_t>(end - m_s.c_str());
                in->list.push_back(negative ? -v : v);
            } while (Sym(","));
            if (!Sym(")"))
                Fail("missing \")\"");
            return in;
        }
        static const struct
        {
            const char* sym;
            Node::Op op;
        } ops[] = {{"<=", Node::Op::Le}, {">=", Node::Op::Ge}, {"<>", Node::Op::Ne},
                   {"!=", Node::Op::Ne}, {"==", Node::Op::Eq}, {"<", Node::Op::Lt},
                   {">", Node::Op::Gt},  {"=", Node::Op::Eq}};
        for (const auto& o : ops)
            if (Sym(o.sym))
                return Make(o.op, n, Bits());
        return n;
    }
    // & and | bind tighter than comparisons (qa & 8 != 0), looser than + and -.
    NodePtr Bits()
    {
        NodePtr n = Sum();
        while (true)
        {
            if (Sym("&"))
                n = Make(Node::Op::BitAnd, n, Sum());
            else if (Sym("|"))
                n = Make(Node::Op::BitOr, n, Sum());
            else
                return n;
        }
    }
    NodePtr Sum()
    {
        NodePtr n = Product();
        while (true)
        {
            if (Sym("+"))
                n = Make(Node::Op::Add, n, Product());
            else if (Sym("-"))
                n = Make(Node::Op::Sub, n, Product());
            else
                return n;
        }
    }
    NodePtr Product()
    {
        NodePtr n = Unary();
        while (true)
        {
            if (Sym("*") || Sym("\xC3\x97")) // ×
                n = Make(Node::Op::Mul, n, Unary());
            else if (Sym("/") || Sym("\xC3\xB7")) // ÷
                n = Make(Node::Op::Div, n, Unary());
            else
                return n;
        }
    }
    NodePtr Unary()
    {
        Depth d(*this);
        if (Sym("-"))
            return Make(Node::Op::Neg, Unary());
        if (Sym("+"))
            return Unary();
        return Primary();
    }
    NodePtr Primary()
    {
        Skip();
        if (Sym("("))
        {
            NodePtr n = Or();
            if (!Sym(")"))
                Fail("missing \")\"");
            return n;
        }
        if (m_i < m_s.size() &&
            (std::isalpha(static_cast<unsigned char>(m_s[m_i])) || m_s[m_i] == '_'))
        {
            size_t j = m_i;
            while (j < m_s.size() &&
                   (std::isalnum(static_cast<unsigned char>(m_s[j])) || m_s[j] == '_'))
                ++j;
            const std::string word = LowerCase(m_s.substr(m_i, j - m_i));
            // A band by name (names win over the b<n> form), a named value, bit(x, n), b<n>.
            for (size_t k = 0; k < m_bandNames.size(); ++k)
                if (m_bandNames[k] == word)
                {
                    m_i = j;
                    return BandNode(static_cast<long>(k + 1));
                }
            for (size_t k = 0; k < m_variables.size(); ++k)
                if (LowerCase(m_variables[k]) == word)
                {
                    m_i = j;
                    auto n = std::make_shared<Node>();
                    n->op = Node::Op::Variable;
                    n->band = static_cast<int>(k);
                    usedVariables[k] = true;
                    return n;
                }
            if (word == "bit")
            {
                m_i = j;
                if (!Sym("("))
                    Fail("expected \"(\" after bit");
                NodePtr value = Or();
                if (!Sym(","))
                    Fail("bit takes a value and a bit number: bit(qa, 3)");
                NodePtr bit = Or();
                if (!Sym(")"))
                    Fail("missing \")\"");
                return Make(Node::Op::Bit, value, bit);
            }
            if (word.size() > 1 && word[0] == 'b' &&
                word.find_first_not_of("0123456789", 1) == std::string::npos)
            {
                const long band = std::strtol(word.c_str() + 1, nullptr, 10);
                if (band < 1 || band > 65535)
                    Fail("band numbers start at b1");
                m_i = j;
                return BandNode(band);
            }
            Fail(word.size() > 1 && word[0] == 'b' &&
                         std::isdigit(static_cast<unsigned char>(word[1]))
                     ? "unknown name"
                     : "unknown name \"" + m_s.substr(m_i, j - m_i) + "\"" + Known());
        }
        if (m_i < m_s.size() &&
            (std::isdigit(static_cast<unsigned char>(m_s[m_i])) || m_s[m_i] == '.'))
        {
            char* end = nullptr;
            const double v = std::strtod(m_s.c_str() + m_i, &end);
            if (end == m_s.c_str() + m_i || !std::isfinite(v))
                Fail("bad number");
            auto n = std::make_shared<Node>();
            n->value = v;
            m_i = static_cast<size_t>(end - m_s.c_str());
            return n;
        }
        Fail(m_i < m_s.size() ? "expected a number, a band (b1, b2, ...) or \"(\""
                              : "unexpected end");
    }

    NodePtr BandNode(long band)
    {
        auto n = std::make_shared<Node>();
        n->op = Node::Op::Band;
        n->band = static_cast<int>(band);
        maxBand = std::max(maxBand, n->band);
        if (std::find(bands.begin(), bands.end(), n->band) == bands.end())
            bands.push_back(n->band);
        return n;
    }
    std::string Known() const
    {
        std::string out;
        for (const auto* list : {&m_bandNames, &m_variables})
            for (const auto& n : *list)
                out += (out.empty() ? "" : ", ") + n;
        return out.empty() ? "" : " (known: " + out + ")";
    }

    const std::string& m_s;
    std::vector<std::string> m_bandNames;
    const std::vector<std::string>& m_variables;
    size_t m_i = 0;
    int m_depth = 0;
};

// The integer part of a value as an integer for bitwise operators (0 for NaN and values out of
// 64-bit range).
std::int64_t AsInteger(double v)
{
    return std::isfinite(v) && std::fabs(v) < 9.2e18 ? static_cast<std::int64_t>(v) : 0;
}

// Evaluates `n` into out[0..count); `scratch[depth..]` holds the right-hand sides of deeper
// operators (kept from call to call: no allocation per node once they have grown; a deque, so
// that growing it for a deeper operator leaves the shallower ones where they are).
void Eval(const Node& n, const std::vector<const double*>& bands,
          const std::vector<double>& variables, size_t count, std::vector<double>& out,
          std::deque<std::vector<double>>& scratch, size_t depth)
{
    using Op = Node::Op;
    switch (n.op)
    {
    case Op::Number:
        out.assign(count, n.value);
        return;
    case Op::Variable:
        out.assign(count, static_cast<size_t>(n.band) < variables.size()
                              ? variables[static_cast<size_t>(n.band)]
                              : std::nan(""));
        return;
    case Op::Band:
        out.assign(bands[static_cast<size_t>(n.band - 1)],
                   bands[static_cast<size_t>(n.band - 1)] + count);
        return;
    default:
        break;
    }
    Eval(*n.a, bands, variables, count, out, scratch, depth + 1);
    double* x = out.data();
    switch (n.op)
    {
    case Op::In:
        for (size_t i = 0; i < count; ++i)
            x[i] = std::find(n.list.begin(), n.list.end(), x[i]) != n.list.end() ? 1.0 : 0.0;
        return;
    case Op::Neg:
        for (size_t i = 0; i < count; ++i)
            x[i] = -x[i];
        return;
    case Op::Not:
        for (size_t i = 0; i < count; ++i)
            x[i] = (x[i] == 0) ? 1.0 : 0.0;
        return;
    default:
        break;
    }
    if (scratch.size() <= depth)
        scratch.resize(depth + 1);
    std::vector<double>& rhs = scratch[depth];
    Eval(*n.b, bands, variables, count, rhs, scratch, depth + 1);
    x = out.data();
    const double* y = rhs.data();
    auto truth = [](double v) { return v != 0 && !std::isnan(v); };
    // One loop per operator (no test per value).
    switch (n.op)
    {
    case Op::Add:
        for (size_t i = 0; i < count; ++i)
            x[i] += y[i];
        break;
    case Op::Sub:
        for (size_t i = 0; i < count; ++i)
            x[i] -= y[i];
        break;
    case Op::Mul:
        for (size_t i = 0; i < count; ++i)
            x[i] *= y[i];
        break;
    case Op::Div:
        for (size_t i = 0; i < count; ++i)
            x[i] = y[i] == 0 ? std::nan("") : x[i] / y[i];
        break;
    case Op::Lt:
        for (size_t i = 0; i < count; ++i)
            x[i] = x[i] < y[i];
        break;
    case Op::Le:
        for (size_t i = 0; i < count; ++i)
            x[i] = x[i] <= y[i];
        break;
    case Op::Gt:
        for (size_t i = 0; i < count; ++i)
            x[i] = x[i] > y[i];
        break;
    case Op::Ge:
        for (size_t i = 0; i < count; ++i)
            x[i] = x[i] >= y[i];
        break;
    case Op::Eq:
        for (size_t i = 0; i < count; ++i)
            x[i] = x[i] == y[i];
        break;
    case Op::Ne:
        for (size_t i = 0; i < count; ++i)
            x[i] = !(std::isnan(x[i]) || std::isnan(y[i])) && x[i] != y[i];
        break;
    case Op::And:
        for (size_t i = 0; i < count; ++i)
            x[i] = truth(x[i]) && truth(y[i]);
        break;
    case Op::Or:
        for (size_t i = 0; i < count; ++i)
            x[i] = truth(x[i]) || truth(y[i]);
        break;
    case Op::BitAnd:
        for (size_t i = 0; i < count; ++i)
            x[i] = static_cast<double>(AsInteger(x[i]) & AsInteger(y[i]));
        break;
    case Op::BitOr:
        for (size_t i = 0; i < count; ++i)
            x[i] = static_cast<double>(AsInteger(x[i]) | AsInteger(y[i]));
        break;
    case Op::Bit:
        for (size_t i = 0; i < count; ++i)
        {
            const std::int64_t bit = AsInteger(y[i]);
            x[i] = bit >= 0 && bit < 63 ? static_cast<double>((AsInteger(x[i]) >> bit) & 1) : 0.0;
        }
        break;
    default:
        break;
    }
}

} // namespace

Expression Expression::Parse(const std::string& text, const std::vector<std::string>& bandNames,
                             const std::vector<std::string>& variables)
{
    if (text.size() > kMaxLength)
        throw Error(ErrorKind::InvalidParameter,
                    "expression longer than " + std::to_string(kMaxLength) + " characters");
    Parser p(text, bandNames, variables);
    Expression e;
    e.m_poRoot = p.ParseAll();
    e.m_nMaxBand = p.maxBand;
    e.m_osText = text;
    e.m_anBands = p.bands;
    std::sort(e.m_anBands.begin(), e.m_anBands.end());
    e.m_abUsedVariables = p.usedVariables;
    return e;
}

std::vector<double> Expression::Evaluate(const std::vector<const double*>& bands, size_t n,
                                         const std::vector<double>& variables) const
{
    if (static_cast<int>(bands.size()) < m_nMaxBand)
        throw Error(ErrorKind::InvalidParameter,
                    "expression \"" + m_osText + "\" uses b" + std::to_string(m_nMaxBand) +
                        " but the raster has " + std::to_string(bands.size()) + " bands");
    for (int b : m_anBands)
        if (bands[static_cast<size_t>(b - 1)] == nullptr)
            throw Error(ErrorKind::InvalidParameter,
                        "expression \"" + m_osText + "\" uses b" + std::to_string(b) +
                            ", which was not read");
    // Scratch vectors per thread, reused by every evaluation of that thread.
    thread_local std::deque<std::vector<double>> scratch;
    std::vector<double> out;
    out.reserve(n);
    Eval(*m_poRoot, bands, variables, n, out, scratch, 0);
    return out;
}

} // namespace pgmosaic
