# Reference values for pymer's residual tests (pymer.checking): the statistics and
# p-values of R's ks.test, binom.test, lmtest's dwtest, ape's Moran.I, quantreg's rq
# and car's leveneTest on fixed inputs, which are stored beside them.
#   Rscript checking.R checking.json
suppressMessages({library(jsonlite); library(lmtest); library(ape); library(quantreg); library(car)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "checking.json"
set.seed(20261130)
res <- list()
ht <- function(t) list(statistic = unname(t$statistic), p_value = t$p.value)

# KS against U(0, 1): exact (n < 100) and asymptotic, each alternative
ks <- list()
for (n in c(40, 300)) {
  x <- runif(n)^1.15
  for (alt in c("two.sided", "greater", "less"))
    ks[[length(ks) + 1]] <- c(list(x = x, alternative = alt), ht(ks.test(x, "punif", alternative = alt)))
}
res$ks <- ks

# binomial tests of outlier counts
bt <- list()
for (case in list(c(5, 500, 2 / 251), c(0, 300, 2 / 101), c(12, 200, 1 / 51), c(3, 1000, 2 / 251)))
  for (alt in c("two.sided", "greater", "less"))
    bt[[length(bt) + 1]] <- c(list(k = case[1], n = case[2], p = case[3], alternative = alt),
                              ht(binom.test(case[1], case[2], case[3], alternative = alt)))
res$binom <- bt

# Durbin-Watson of residuals ordered by time: exact (n < 100) and normal approximation
dw <- list()
for (n in c(30, 80, 250)) {
  e <- as.numeric(arima.sim(list(ar = 0.25), n)); x <- pnorm(e)
  time <- sample(n)
  for (alt in c("two.sided", "greater", "less")) {
    t <- dwtest(x ~ 1, order.by = time, alternative = alt)
    dw[[length(dw) + 1]] <- c(list(x = x, time = time, alternative = alt), ht(t))
  }
}
res$dw <- dw

# Moran's I with inverse-distance weights
mo <- list()
for (n in c(25, 60)) {
  cx <- runif(n); cy <- runif(n); x <- runif(n) + 0.3 * cx
  w <- 1 / as.matrix(dist(cbind(cx, cy))); diag(w) <- 0
  for (alt in c("two.sided", "greater", "less")) {
    t <- Moran.I(x, w, alternative = alt)
    mo[[length(mo) + 1]] <- list(x = x, cx = cx, cy = cy, alternative = alt, observed = t$observed,
                                 expected = t$expected, sd = t$sd, p_value = t$p.value)
  }
}
res$moran <- mo

# linear quantile regression (unique solutions: continuous data)
n <- 120; xq <- runif(n); yq <- runif(n) * (0.5 + xq)
res$rq <- list(x = xq, y = yq, taus = c(0.25, 0.5, 0.75),
               coef = lapply(c(0.25, 0.5, 0.75), function(tau) unname(coef(rq(yq ~ xq, tau = tau)))))

# Levene's test (center = median)
g <- factor(rep(c("a", "b", "c", "d"), times = c(15, 20, 25, 10)))
xl <- runif(70)^ifelse(g == "b", 2, 1)
lt <- leveneTest(xl ~ g)
res$levene <- list(x = xl, g = as.character(g), F = lt[1, "F value"], p_value = lt[1, "Pr(>F)"])

# lme4's simulate() of a gaussian(log) GLMM with new random effects (re.form = NA):
# the covariance of two rows of one group and the variance of one row (Monte Carlo,
# 20000 draws), to check the scale of the random effects drawn for GLMMs with a
# dispersion (b = Lambda u, not sigma Lambda u)
suppressMessages(library(lme4))
d <- read.csv("../data/gaussian_log_sim.csv")
m <- suppressWarnings(glmer(y ~ x + (1 | grp), data = d, family = gaussian(link = "log")))
s <- as.matrix(simulate(m, nsim = 20000, seed = 1, re.form = NA))
other <- which(d$grp != d$grp[1])[1]
res$gaussian_log_sim <- list(rows = c(1, 2, other), cov12 = cov(s[1, ], s[2, ]), var1 = var(s[1, ]),
                             cov_other = cov(s[1, ], s[other, ]), sigma = sigma(m), theta = getME(m, "theta"))

writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), out)
