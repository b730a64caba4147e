import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packageFolder } from './import-command';

describe('packageFolder', () => {
  it('is one folder inside the packages folder, for a name the package loader takes', () => {
    assert.equal(packageFolder('/srv/models', 'news-bert_2.1'), '/srv/models/news-bert_2.1');
  });

  it('refuses a name that is a path or leaves the folder (a .mar chooses its modelName)', () => {
    for (const name of ['../victim', '..', '.', 'a/b', '/etc', 'a\\..\\b', '', '.hidden']) {
      assert.throws(() => packageFolder('/srv/models', name), /is not a folder name; pass --name/);
    }
  });
});
