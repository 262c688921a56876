"""Function words that never count as shared keywords, in English and Chinese."""

ENGLISH = frozenset(
    """
    a about above across after again against all almost along also although always am among an and
    another any anyone anything are around as at be became because become becomes been before being
    below besides between beyond both but by can cannot could did do does doing done down due during
    each either else enough etc even ever every few for from further had has have having he her here
    hers herself him himself his how however i if in into is it its itself just least less like made
    make makes many may me might more most much must my myself neither no nor not now of off often on
    once one only onto or other others otherwise our ours ourselves out over own per rather same
    several shall she should since so some such than that the their theirs them themselves then there
    thereby therefore these they this those though through throughout thus to together too toward
    towards under until up upon us use used uses using very via was we well were what whatever when
    where whereas whether which while who whom whose why will with within without would yet you your
    yours yourself yourselves eg ie et
    """.split()  # noqa: SIM905 -- a word list reads best as one string
)

CHINESE = frozenset(
    """
    的 了 和 与 及 或 等 在 是 为 对 中 以 将 把 被 从 由 于 其 该 此 这 那 也 都 而 并 且 就 还 又 已 已经
    一种 一个 一些 这些 那些 这种 这个 我们 我司 本 本项目 本公司 公司 企业 项目 通过 进行 以及 其中 可以 能够
    具有 由于 对于 关于 目前 主要 同时 相关 提供 实现 利用 采用 使用 用于 基于 需要 希望 寻求 要求 以上 以下
    之间 之后 之前 方面 情况 问题 方法 技术 研究 开发 提高 降低 达到 如何 什么 不 没有 有 无 个 种 每 各
    年 月 日 及其 从而 因此 但是 然而 如果 因为 所以 并且 或者 以便 其他 其它 等等 方式 过程 工作
    """.split()  # noqa: SIM905 -- a word list reads best as one string
)
