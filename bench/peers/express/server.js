// The classic Express + jsonwebtoken + bcrypt tutorial, as written, with its users in
// memory (MongoDB is not available here). bench/http/run.py measures it against authgate.
//
//   ACCESS_TOKEN_SECRET=... REFRESH_TOKEN_SECRET=... PORT=3000 node server.js
//
// KEYOBJECT=1 wraps each secret once in a KeyObject (crypto.createSecretKey) instead of
// handing jsonwebtoken the string on every call; nothing else changes.
const crypto = require('crypto')
const express = require('express')
const jwt = require('jsonwebtoken')
const bcrypt = require('bcrypt')

const app = express()
app.use(express.json())

// The tutorial reads these from .env (require('dotenv').config()); each is
// crypto.randomBytes(32).toString('hex').
const keyed = (secret) =>
  process.env.KEYOBJECT === '1' ? crypto.createSecretKey(Buffer.from(secret)) : secret
const ACCESS_TOKEN_SECRET = keyed(process.env.ACCESS_TOKEN_SECRET || crypto.randomBytes(32).toString('hex'))
const REFRESH_TOKEN_SECRET = keyed(process.env.REFRESH_TOKEN_SECRET || crypto.randomBytes(32).toString('hex'))

const users = []
let refreshTokens = []

app.post('/sign-up', async (req, res) => {
  try {
    const hashedPassword = await bcrypt.hash(req.body.password, 10)
    users.push({ email: req.body.email, password: hashedPassword })
    res.status(201).send()
  } catch {
    res.status(500).send()
  }
})

app.post('/sign-in', async (req, res) => {
  const user = users.find((user) => user.email === req.body.email)
  if (user == null) return res.status(400).send('Cannot find user')
  try {
    if (await bcrypt.compare(req.body.password, user.password)) {
      const accessToken = generateAccessToken({ email: user.email })
      const refreshToken = jwt.sign({ email: user.email }, REFRESH_TOKEN_SECRET)
      refreshTokens.push(refreshToken)
      res.json({ accessToken: accessToken, refreshToken: refreshToken })
    } else {
      res.status(401).send('Not Allowed')
    }
  } catch {
    res.status(500).send()
  }
})

app.post('/token', (req, res) => {
  const refreshToken = req.body.token
  if (refreshToken == null) return res.sendStatus(401)
  if (!refreshTokens.includes(refreshToken)) return res.sendStatus(403)
  jwt.verify(refreshToken, REFRESH_TOKEN_SECRET, (err, user) => {
    if (err) return res.sendStatus(403)
    const accessToken = generateAccessToken({ email: user.email })
    res.json({ accessToken: accessToken })
  })
})

app.get('/test', authenticateToken, (req, res) => {
  res.send('Token Verified, Authorizing User...')
})

function generateAccessToken(user) {
  return jwt.sign(user, ACCESS_TOKEN_SECRET, { expiresIn: '1800s' })
}

function authenticateToken(req, res, next) {
  const authHeader = req.headers['authorization']
  const token = authHeader && authHeader.split(' ')[1]
  if (token == null) return res.sendStatus(401)

  jwt.verify(token, ACCESS_TOKEN_SECRET, (err, user) => {
    if (err) return res.sendStatus(403)
    req.user = user
    next()
  })
}

app.listen(process.env.PORT || 3000, process.env.HOST || '127.0.0.1')
